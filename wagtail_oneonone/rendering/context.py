"""What a template sees: plain data about one contact, never model instances.

A model instance would expose its relations (``contact.user.password``) and lazy queries;
everything here is dicts, lists, strings, numbers, booleans and ``None``. Building the
contexts of any number of contacts costs one query: their recent events and the latest
events of the kinds the helpers need come back together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from ..conf import app_settings
from ..events.types import label_for
from ..models import Contact, Event
from .segments import SegmentMembership

#: Every variable ``build_context`` provides (plus the links the sender adds).
CONTEXT_VARIABLES = (
    "contact",
    "attributes",
    "events",
    "recent_products",
    "last_cart",
    "last_order",
    "trigger",
    "site",
    "now",
    "unsubscribe_url",
    "preferences_url",
)
CONTACT_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "full_name",
    "time_zone",
    "locale",
    "birthday",
    "customer_since",
    "attributes",
    "consent_status",
    "source",
)
EVENT_FIELDS = ("type", "label", "occurred_at", "value", "currency", "properties")
PRODUCT_FIELDS = ("product_id", "name", "url", "image_url", "price", "category")
SITE_FIELDS = ("name", "base_url")
#: How many distinct products ``recent_products`` lists, from how many latest views.
RECENT_PRODUCTS = 6
PRODUCT_VIEWS_SCANNED = 50
_URL_KEYS = ("url", "image_url")
_EVENT_COLUMNS = ("id", "type", "occurred_at", "value", "currency", "properties")
#: A contact's id → the rows of its events that its context uses, newest first.
ContextEvents = Mapping[int, list[dict[str, Any]]]


def build_context(
    contact: Contact,
    *,
    trigger_event: Event | None = None,
    extra: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The template context for ``contact``; ``extra`` (e.g. ``unsubscribe_url``) is added."""
    return build_contexts([contact], trigger_events=[trigger_event], extras=[extra], now=now)[0]


def build_contexts(
    contacts: Sequence[Contact],
    *,
    trigger_events: Sequence[Event | None] | None = None,
    extras: Sequence[Mapping[str, Any] | None] | None = None,
    now: datetime | None = None,
    events: ContextEvents | None = None,
) -> list[dict[str, Any]]:
    """``build_context`` for each contact, with one query for all their events.

    ``trigger_events[i]`` and ``extras[i]`` belong to ``contacts[i]``; a contact may come
    more than once (two messages to one person) and each gets a context of its own.
    ``events`` (from :func:`load_context_events`) saves the query when a caller loaded
    them for more contacts at once.
    """
    site = site_context()
    when = now or timezone.now()
    if events is None:
        events = load_context_events(contacts)
    contexts = []
    for index, contact in enumerate(contacts):
        rows = events.get(contact.pk, []) if contact.pk is not None else []
        context = _context(
            contact, [_event_dict(row, site["base_url"]) for row in rows], dict(site), when
        )
        trigger_event = trigger_events[index] if trigger_events else None
        if trigger_event is not None:
            context["trigger"] = _event_dict(_instance_row(trigger_event), site["base_url"])
        extra = extras[index] if extras else None
        if extra:
            context.update({str(key): plain(value) for key, value in extra.items()})
        contexts.append(context)
    return contexts


def preview_context(
    contact: Contact,
    *,
    trigger_event: Event | None = None,
    latest_as_trigger: bool = True,
    extra: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """For the admin's preview: ``build_context`` with links that go nowhere, and as the
    trigger ``trigger_event`` or else (with ``latest_as_trigger``) the latest event."""
    context = build_context(
        contact, trigger_event=trigger_event, extra={**PREVIEW_LINKS, **(extra or {})}, now=now
    )
    if trigger_event is None and latest_as_trigger and context["events"]:
        context["trigger"] = context["events"][0]
    return context


#: A preview's unsubscribe and preference links: placeholders, so a click changes nothing.
PREVIEW_LINKS = {"unsubscribe_url": "#unsubscribe", "preferences_url": "#preferences"}


def site_context() -> dict[str, str]:
    base_url = app_settings.BASE_URL or getattr(settings, "WAGTAILADMIN_BASE_URL", "") or ""
    return {
        "name": str(getattr(settings, "WAGTAIL_SITE_NAME", "") or ""),
        "base_url": str(base_url).rstrip("/"),
    }


def contact_dict(contact: Contact) -> dict[str, Any]:
    return {
        "email": plain(contact.email),
        "first_name": plain(contact.first_name),
        "last_name": plain(contact.last_name),
        "full_name": plain(contact.full_name),
        "time_zone": plain(contact.time_zone or app_settings.default_time_zone),
        "locale": plain(contact.locale),
        "birthday": plain(contact.birthday),
        "customer_since": plain(contact.customer_since),
        "attributes": plain(contact.attributes) if isinstance(contact.attributes, dict) else {},
        "consent_status": plain(contact.consent_status),
        "source": plain(contact.source),
    }


def plain(value: Any) -> Any:
    """``value`` as plain data; strings lose any "safe" mark so autoescape applies."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)  # an exact str: SafeString and enums lose their type
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


# Events ----------------------------------------------------------------------------------


def load_context_events(contacts: Iterable[Contact]) -> ContextEvents:
    """Each contact's recent events plus its latest product views, cart and order.

    One query for all the contacts, each one's rows newest first. Row numbers over each
    contact's events (and over each contact's events of one type) pick the rows, so a
    contact with a long history takes no more than its share.
    """
    contact_ids = {contact.pk for contact in contacts if contact.pk is not None}
    if not contact_ids:
        return {}
    newest = [F("occurred_at").desc(), F("id").desc()]
    ranked = Event.objects.filter(contact_id__in=contact_ids).annotate(
        type_rank=Window(RowNumber(), partition_by=[F("contact_id"), F("type")], order_by=newest)
    )
    wanted = Q(type="product_viewed", type_rank__lte=PRODUCT_VIEWS_SCANNED) | Q(
        type__in=("cart_updated", "order_placed"), type_rank=1
    )
    recent = int(app_settings.RECENT_EVENTS_IN_CONTEXT)
    if recent > 0:
        ranked = ranked.annotate(
            recent_rank=Window(RowNumber(), partition_by=[F("contact_id")], order_by=newest)
        )
        wanted |= Q(recent_rank__lte=recent)
    rows: dict[int, list[dict[str, Any]]] = {contact_id: [] for contact_id in contact_ids}
    for row in (
        ranked.filter(wanted)
        .order_by("contact_id", "-occurred_at", "-id")
        .values("contact_id", *_EVENT_COLUMNS)
    ):
        rows[row["contact_id"]].append(row)
    return rows


def _instance_row(event: Event) -> dict[str, Any]:
    return {column: getattr(event, column) for column in _EVENT_COLUMNS}


def _event_dict(row: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    properties = row["properties"] if isinstance(row["properties"], dict) else {}
    return {
        "type": plain(row["type"]),
        "label": plain(label_for(row["type"])),
        "occurred_at": plain(row["occurred_at"]),
        "value": plain(row["value"]),
        "currency": plain(row["currency"] or ""),
        "properties": _absolute_urls(plain(properties), base_url),
    }


def _absolute_urls(properties: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Relative ``url``/``image_url`` (also in ``items``) made absolute: email needs that."""
    for key in _URL_KEYS:
        if isinstance(properties.get(key), str):
            properties[key] = absolute(properties[key], base_url)
    items = properties.get("items")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                _absolute_urls(item, base_url)
    return properties


def absolute(url: str, base_url: str) -> str:
    if not base_url or not url:
        return url
    if url.startswith("//"):
        return f"{base_url.split(':', 1)[0]}:{url}"
    return f"{base_url}{url}" if url.startswith("/") else url


def _context(
    contact: Contact, events: list[dict[str, Any]], site: dict[str, str], now: datetime
) -> dict[str, Any]:
    contact_data = contact_dict(contact)
    # A question, not data: asked only by templates that use it (one query a segment).
    contact_data["in_segment"] = SegmentMembership(contact.pk, now=now)
    recent = int(app_settings.RECENT_EVENTS_IN_CONTEXT)
    return {
        "contact": contact_data,
        "attributes": contact_data["attributes"],
        # Rows came newest first and include every one of the contact's newest `recent`.
        "events": events[: max(recent, 0)],
        "recent_products": _recent_products(events),
        "last_cart": _last_cart(events),
        "last_order": _last_order(events),
        "trigger": None,
        "site": site,
        "now": now.isoformat(),
    }


def _recent_products(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    products: list[dict[str, Any]] = []
    seen: set[str] = set()
    for event in events:
        properties = event["properties"]
        product_id = properties.get("product_id")
        key = str(product_id)
        if event["type"] != "product_viewed" or product_id in (None, "") or key in seen:
            continue
        seen.add(key)
        products.append({field: properties.get(field) for field in PRODUCT_FIELDS})
        if len(products) == RECENT_PRODUCTS:
            break
    return products


def _latest(events: list[dict[str, Any]], event_type: str) -> dict[str, Any] | None:
    return next((event for event in events if event["type"] == event_type), None)


def _last_cart(events: list[dict[str, Any]]) -> list[Any]:
    cart = _latest(events, "cart_updated")
    items = cart["properties"].get("items") if cart else None
    return items if isinstance(items, list) else []


def _last_order(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    order = _latest(events, "order_placed")
    if order is None:
        return None
    details = dict(order["properties"])
    details.setdefault("occurred_at", order["occurred_at"])
    details.setdefault("currency", order["currency"])
    details.setdefault("value", order["value"])
    return details
