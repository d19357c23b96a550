"""The public API: ``track()`` records what someone did, ``identify()`` says who they are.

Both validate everything before writing. ``track()`` does one insert into the event log
(plus a lookup to find the contact); flows, segments and email happen later, elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from contextlib import nullcontext
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connections, router, transaction
from django.http import HttpRequest
from django.utils import timezone

from .conf import app_settings
from .contacts.services import (
    apply_profile,
    clean_consent_status,
    clean_profile,
    contact_for_user,
    get_or_create_contact,
    merge_visitor,
    set_consent,
)
from .events.store import insert_event_for_email
from .events.types import get_event_type, to_decimal
from .exceptions import ContactValidationError, EventValidationError, OneOnOneError
from .models import Contact, Event
from .validation import has_json_nul, normalize_email
from .visitors import get_identified_contact_id, get_visitor_id, remember_contact

logger = logging.getLogger("wagtail_oneonone.events")

_MAX_VALUE = Decimal("999999999999.99")


def _clean_occurred_at(value: Any) -> dt.datetime:
    now = timezone.now()
    if value is None:
        return now
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise EventValidationError(
                "occurred_at", f"{value!r} is not an ISO 8601 date and time"
            ) from None
    if not isinstance(value, dt.datetime):
        raise EventValidationError(
            "occurred_at", f"expected a datetime, got {type(value).__name__}"
        )
    if timezone.is_naive(value):
        raise EventValidationError(
            "occurred_at", "must be timezone-aware (naive datetimes are ambiguous)"
        )
    value = value.astimezone(dt.UTC)
    limit = app_settings.MAX_EVENT_FUTURE_SECONDS
    if (value - now).total_seconds() > limit:
        raise EventValidationError("occurred_at", f"is more than {limit} seconds in the future")
    return value


def _clean_value(value: Any, currency: Any) -> tuple[Decimal | None, str]:
    if value is None:
        if currency not in (None, ""):
            raise EventValidationError("currency", "given without a value")
        return None, ""
    number = to_decimal(value, "value")
    if abs(number) > _MAX_VALUE:
        raise EventValidationError("value", f"{value!r} is out of range")
    try:
        number = number.quantize(Decimal("0.01"))
    except InvalidOperation:
        raise EventValidationError("value", f"{value!r} is out of range") from None
    if currency in (None, ""):
        currency = app_settings.DEFAULT_CURRENCY
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise EventValidationError(
            "currency", f"expected a three-letter ISO 4217 code, got {currency!r}"
        )
    return number, currency.upper()


def _clean_properties(event_type: Any, properties: Any) -> dict[str, Any]:
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping):
        raise EventValidationError(
            "properties", f"expected a mapping, got {type(properties).__name__}"
        )
    cleaned = event_type.clean(properties)
    try:
        serialised = json.dumps(cleaned, cls=DjangoJSONEncoder, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise EventValidationError("properties", f"must be JSON serialisable ({exc})") from None
    if has_json_nul(serialised):
        raise EventValidationError(
            "properties", "contain a NUL character (\\u0000), which databases cannot store"
        )
    size = len(serialised)
    limit = app_settings.MAX_EVENT_PROPERTIES_BYTES
    if size > limit:
        raise EventValidationError(
            "properties",
            f"are {size} bytes serialised; the limit is {limit} "
            "(WAGTAIL_ONEONONE['MAX_EVENT_PROPERTIES_BYTES'])",
        )
    return cleaned


@lru_cache(maxsize=16)
def _lookup_sql(alias: str, column: str) -> str:
    query = Contact.objects.using(alias).filter(**{column: 0}).values_list("pk").order_by()[:1]
    return str(query.query.sql_with_params()[0])


def _contact_id_where(column: str, value: Any) -> int | None:
    """The id of the contact whose ``column`` equals ``value``.

    This runs on every tracked event, so the SQL is compiled by the ORM once and reused:
    building the same query each time cost as much as the insert itself.
    """
    alias = router.db_for_read(Contact)
    with connections[alias].cursor() as cursor:
        cursor.execute(_lookup_sql(alias, column), [value])
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _resolve_subject(
    *,
    email: Any,
    user: Any,
    contact: Contact | None,
    request: HttpRequest | None,
    visitor_id: Any,
) -> tuple[int | None, str | None]:
    """(contact id, visitor id) for whoever did it; creates the contact for a new email."""
    if contact is not None:
        if not isinstance(contact, Contact) or contact.pk is None:
            raise EventValidationError("contact", "expected a saved Contact")
        return contact.pk, None
    if email is not None:
        normalized = normalize_email(email)
        found = _contact_id_where("email", normalized)
        if found is None:
            found = get_or_create_contact(normalized, source="tracked event")[0].pk
        return found, None
    if user is not None:
        if not getattr(user, "is_authenticated", False):
            raise EventValidationError("user", "expected an authenticated user")
        linked = contact_for_user(user)
        if linked is None:
            raise EventValidationError(
                "user",
                "the user has no contact: no valid email, or a staff account "
                "(see WAGTAIL_ONEONONE['TRACK_STAFF'])",
            )
        return linked.pk, None
    if visitor_id is not None:
        if not isinstance(visitor_id, str) or not 1 <= len(visitor_id) <= 36:
            raise EventValidationError("visitor_id", "expected a string of at most 36 characters")
        return None, visitor_id
    if request is not None:
        request_user = getattr(request, "user", None)
        if request_user is not None and request_user.is_authenticated:
            linked = contact_for_user(request_user)
            if linked is not None:
                return linked.pk, None
        remembered = get_identified_contact_id(request)
        if remembered is not None and _contact_id_where("pk", remembered) is not None:
            return remembered, None
        return None, get_visitor_id(request, create=True)
    raise EventValidationError(
        "email", "say who did it: pass email, user, contact, request or visitor_id"
    )


def track(
    event_type: str,
    *,
    email: str | None = None,
    user: Any = None,
    contact: Contact | None = None,
    request: HttpRequest | None = None,
    visitor_id: str | None = None,
    value: Any = None,
    currency: str | None = None,
    properties: Mapping[str, Any] | None = None,
    occurred_at: dt.datetime | str | None = None,
    dedup_key: str | None = None,
    fail_silently: bool = False,
) -> Event | None:
    """Record one event. Raises :class:`EventValidationError` naming the field at fault.

    With ``fail_silently=True`` a refused event is logged and dropped and ``None`` returned.
    A repeated ``dedup_key`` returns the event already recorded instead of a second one.
    """
    args = (event_type, email, user, contact, request, visitor_id, value, currency)
    try:
        # Inside the host's transaction a failed statement would poison it, so a silent
        # failure needs a savepoint; in autocommit a failed insert harms nothing.
        guard = (
            transaction.atomic(savepoint=True)
            if fail_silently and transaction.get_connection().in_atomic_block
            else nullcontext()
        )
        with guard:
            return _track(*args, properties, occurred_at, dedup_key)
    except OneOnOneError as exc:
        if not fail_silently:
            raise
        logger.warning("Dropped event %r: %s", event_type, exc)
    except Exception:
        if not fail_silently:
            raise
        logger.exception("Dropped event %r after an unexpected error", event_type)
    return None


def _track(
    event_type_name: Any,
    email: Any,
    user: Any,
    contact: Contact | None,
    request: HttpRequest | None,
    visitor_id: Any,
    value: Any,
    currency: Any,
    properties: Any,
    occurred_at: Any,
    dedup_key: Any,
) -> Event:
    event_type = get_event_type(event_type_name)
    cleaned_properties = _clean_properties(event_type, properties)
    if value is None and event_type.value_property:
        value = cleaned_properties.get(event_type.value_property)
    clean_value, clean_currency = _clean_value(value, currency)
    when = _clean_occurred_at(occurred_at)
    if dedup_key is not None:
        if not isinstance(dedup_key, str) or not 1 <= len(dedup_key) <= 200:
            raise EventValidationError("dedup_key", "expected a string of 1 to 200 characters")
        if "\x00" in dedup_key:
            raise EventValidationError("dedup_key", "contains a NUL character")
    event = Event(
        type=event_type.name,
        occurred_at=when,
        value=clean_value,
        currency=clean_currency,
        properties=cleaned_properties,
        dedup_key=dedup_key,
    )
    try:
        if contact is None and email is not None:
            email = normalize_email(email)
            if dedup_key is None and insert_event_for_email(event, email):
                return event
        event.contact_id, event.visitor_id = _resolve_subject(
            email=email, user=user, contact=contact, request=request, visitor_id=visitor_id
        )
    except ContactValidationError as exc:
        raise EventValidationError(exc.field, exc.message) from None
    if event.contact_id is None and event_type.contact_required:
        raise EventValidationError(
            "email", f"{event_type.name} events need a known contact (email or user)"
        )
    if dedup_key is None:
        event.save(force_insert=True)
        return event
    try:
        with transaction.atomic():
            event.save(force_insert=True)
    except IntegrityError:
        existing = Event.objects.filter(dedup_key=dedup_key).first()
        if existing is None:
            raise
        if existing.type != event.type or existing.contact_id != event.contact_id:
            raise EventValidationError(
                "dedup_key",
                f"{dedup_key!r} already belongs to another {existing.type} event; "
                "prefix keys with what they identify (for example 'order-1001')",
            ) from None
        return existing
    return event


def identify(
    email: str,
    *,
    user: Any = None,
    request: HttpRequest | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    time_zone: str | None = None,
    locale: str | None = None,
    birthday: dt.date | str | None = None,
    customer_since: dt.date | str | None = None,
    attributes: Mapping[str, Any] | None = None,
    source: str | None = None,
    consent: str | None = None,
    consent_source: str | None = None,
    consent_where: str | None = None,
) -> Contact:
    """Create or update the contact for ``email`` and tie this browser's history to it.

    Fields left as ``None`` are untouched; ``attributes`` are merged into those already
    known. ``consent`` (``subscribed``, ``pending``, ``unsubscribed``) needs
    ``consent_source``. With ``request``, the anonymous visitor's earlier events move to
    the contact and later ones are recorded against it.
    """
    normalized = normalize_email(email)
    profile = clean_profile(
        first_name=first_name,
        last_name=last_name,
        time_zone=time_zone,
        locale=locale,
        birthday=birthday,
        customer_since=customer_since,
        attributes=attributes,
        source=source,
    )
    if consent is not None:
        clean_consent_status(consent)
        if not consent_source:
            raise ContactValidationError("consent_source", "is required when consent is given")
    if user is not None and not getattr(user, "is_authenticated", False):
        raise ContactValidationError("user", "expected an authenticated user")
    where = consent_where
    if where is None and request is not None:
        where = request.build_absolute_uri()[:500]  # long tracking query strings
    with transaction.atomic():
        contact, created = get_or_create_contact(normalized, **_creation_defaults(profile))
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        changed = [] if created else apply_profile(contact, profile)
        if user is not None and contact.user_id != user.pk:
            Contact.objects.filter(user_id=user.pk).exclude(pk=contact.pk).update(user=None)
            contact.user = user
            changed.append("user")
        if changed:
            contact.save(update_fields=[*changed, "updated_at"])
        if consent is not None:
            # The person acted on the site (a form, a checkbox): a fresh opt-in of theirs
            # lifts an earlier unsubscribe, never a bounce or a complaint.
            set_consent(
                contact,
                consent,
                source=str(consent_source),
                where=where or "",
                by_contact=True,
            )
        if request is not None:
            merge_visitor(contact, get_visitor_id(request))
    if request is not None:
        remember_contact(request, contact.pk)
    return contact


def _creation_defaults(profile: Mapping[str, Any]) -> dict[str, Any]:
    defaults = dict(profile)
    defaults.setdefault("attributes", {})
    return defaults
