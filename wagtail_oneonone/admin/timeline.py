"""Turning events into the lines of a contact's timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext_lazy as _

from ..events.types import get_event_type, label_for
from ..exceptions import EventValidationError
from ..models import Event

# Properties worth showing, in this order, with their labels.
_KEY_PROPERTIES: tuple[tuple[str, Any], ...] = (
    ("name", _("Product")),
    ("title", _("Title")),
    ("order_id", _("Order")),
    ("product_id", _("Product id")),
    ("category", _("Category")),
    ("action", _("Action")),
    ("source", _("Source")),
    ("form", _("Form")),
    ("url", _("URL")),
)
_MAX_OTHER_PROPERTIES = 3
_MAX_ITEMS_LISTED = 3
_TIMES = "\u00d7"


@dataclass(frozen=True)
class Detail:
    label: str
    value: str
    is_link: bool = False


@dataclass(frozen=True)
class TimelineEntry:
    event: Event
    label: str
    contact_time: dt.datetime | None
    amount: str
    details: list[Detail]


def contact_zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def summarise_items(items: Any) -> str:
    """``"2 x Mug, 1 x Tee (3 items)"`` (with a multiplication sign); long carts are cut short."""
    if not isinstance(items, list) or not items:
        return ""
    parts: list[str] = []
    total = 0
    for item in items:
        if not isinstance(item, Mapping):
            continue
        quantity = item.get("quantity")
        quantity = quantity if isinstance(quantity, int) else 1
        total += quantity
        if len(parts) < _MAX_ITEMS_LISTED:
            name = item.get("name") or item.get("product_id") or "?"
            parts.append(f"{quantity} {_TIMES} {name}")
    more = len(items) - len(parts)
    text = ", ".join(parts) + (f", +{more} more" if more > 0 else "")
    return f"{text} ({total} item{'s' if total != 1 else ''})"


def _is_safe_link(value: str) -> bool:
    # Only http(s) and site-relative links become <a>: never javascript: or data: URLs.
    return value.startswith(("https://", "http://", "/")) and not value.startswith("//")


def describe_properties(
    properties: Mapping[str, Any], hidden: frozenset[str] = frozenset()
) -> list[Detail]:
    """The key properties of an event, then a few others; ``hidden`` ones are left out."""
    details = []
    for key, label in _KEY_PROPERTIES:
        value = properties.get(key)
        if value in (None, "") or isinstance(value, dict | list):
            continue
        text = str(value)
        details.append(Detail(str(label), text, is_link=key == "url" and _is_safe_link(text)))
    items = summarise_items(properties.get("items"))
    if items:
        details.append(Detail(str(_("Items")), items))
    shown = {key for key, _label in _KEY_PROPERTIES} | {"items"} | hidden
    others = [
        (key, value)
        for key, value in properties.items()
        if key not in shown and isinstance(value, str | int | float | bool) and value != ""
    ]
    for key, value in others[:_MAX_OTHER_PROPERTIES]:
        details.append(Detail(key.replace("_", " ").capitalize(), str(value)))
    return details


def describe_event(event: Event, zone: ZoneInfo | None) -> TimelineEntry:
    amount = ""
    hidden: frozenset[str] = frozenset()
    if event.value is not None:
        amount = f"{event.value} {event.currency}".strip()
        # The property the value came from (an order's total) would only repeat it.
        try:
            value_property = get_event_type(event.type).value_property
        except EventValidationError:
            value_property = None
        if value_property:
            hidden = frozenset({value_property})
    return TimelineEntry(
        event=event,
        label=label_for(event.type),
        contact_time=event.occurred_at.astimezone(zone) if zone else None,
        amount=amount,
        details=describe_properties(event.properties or {}, hidden),
    )
