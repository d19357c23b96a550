"""The event type registry: built-in types and the ones a host registers, with schemas."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ..exceptions import EventValidationError, UnknownEventType

_MISSING = object()


@dataclass(frozen=True)
class Prop:
    """One property in an event type's schema.

    ``kind`` is one of ``str``, ``int``, ``number``, ``bool``, ``list``, ``dict``, ``items``
    (a list of cart or order lines, each checked against :data:`ITEM_SCHEMA`).
    """

    kind: str
    required: bool = False
    max_length: int = 1000
    min_value: float | None = None
    help: str = ""

    def clean(self, value: Any, path: str) -> Any:
        cleaner = _CLEANERS.get(self.kind)
        if cleaner is None:
            raise ValueError(f"unknown property kind {self.kind!r}")
        return cleaner(self, value, path)


def _clean_str(prop: Prop, value: Any, path: str) -> str:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        value = str(value)  # ids are often numbers; store them as text
    if not isinstance(value, str):
        raise EventValidationError(path, f"expected a string, got {type(value).__name__}")
    if len(value) > prop.max_length:
        raise EventValidationError(path, f"is longer than {prop.max_length} characters")
    if "\x00" in value:
        raise EventValidationError(path, "contains a NUL character")
    return value


def _clean_int(prop: Prop, value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if not isinstance(value, str) or len(value) > 20:
                raise ValueError
            value = int(value.strip())
        except ValueError:
            raise EventValidationError(path, f"expected an integer, got {value!r}") from None
    if prop.min_value is not None and value < prop.min_value:
        raise EventValidationError(path, f"must be at least {prop.min_value:g}, got {value}")
    return value


#: Numbers in events stay within ±10^15 (and no finer than 10^-15).
MAX_DECIMAL_EXPONENT = 15


def to_decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, bool):
        raise EventValidationError(path, f"expected a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise EventValidationError(path, f"expected a finite number, got {value!r}")
    try:
        if isinstance(value, str) and len(value) > 50:
            raise InvalidOperation
        number = Decimal(str(value)) if isinstance(value, int | float | str) else value
    except InvalidOperation:
        raise EventValidationError(path, f"expected a number, got {value!r}") from None
    if not isinstance(number, Decimal) or not number.is_finite():
        raise EventValidationError(path, f"expected a number, got {value!r}")
    # Bounded before any arithmetic: "1e999999999" would otherwise cost minutes of CPU.
    if number and not -MAX_DECIMAL_EXPONENT <= number.adjusted() <= MAX_DECIMAL_EXPONENT:
        raise EventValidationError(path, f"{value!r} is out of range")
    return number


def _clean_number(prop: Prop, value: Any, path: str) -> float | int:
    number = to_decimal(value, path)
    if prop.min_value is not None and number < Decimal(str(prop.min_value)):
        raise EventValidationError(path, f"must be at least {prop.min_value:g}, got {number}")
    # JSON has no decimals: keep integers exact and everything else as a float.
    return int(number) if number == number.to_integral_value() else float(number)


def _clean_bool(prop: Prop, value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise EventValidationError(path, f"expected true or false, got {value!r}")
    return value


def _clean_list(prop: Prop, value: Any, path: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise EventValidationError(path, f"expected a list, got {type(value).__name__}")
    return list(value)


def _clean_dict(prop: Prop, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise EventValidationError(path, f"expected an object, got {type(value).__name__}")
    return dict(value)


def _clean_items(prop: Prop, value: Any, path: str) -> list[dict[str, Any]]:
    items = _clean_list(prop, value, path)
    if len(items) > 500:
        raise EventValidationError(path, "has more than 500 lines")
    cleaned = []
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            raise EventValidationError(item_path, f"expected an object, got {type(item).__name__}")
        cleaned.append(clean_properties(ITEM_SCHEMA, item, item_path))
    return cleaned


_CLEANERS: dict[str, Callable[[Prop, Any, str], Any]] = {
    "str": _clean_str,
    "int": _clean_int,
    "number": _clean_number,
    "bool": _clean_bool,
    "list": _clean_list,
    "dict": _clean_dict,
    "items": _clean_items,
}

#: A line of a cart or an order.
ITEM_SCHEMA: dict[str, Prop] = {
    "product_id": Prop("str", required=True, max_length=100),
    "name": Prop("str", max_length=300),
    "quantity": Prop("int", required=True, min_value=0),
    "price": Prop("number", min_value=0),
    "category": Prop("str", max_length=200),
    "url": Prop("str", max_length=2000),
    "image_url": Prop("str", max_length=2000),
}


def clean_properties(schema: Mapping[str, Prop], data: Mapping[str, Any], path: str) -> dict:
    """Check ``data`` against ``schema``; keys the schema does not name pass through."""
    cleaned: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise EventValidationError(path, f"property names must be strings, got {key!r}")
        prop = schema.get(key)
        if prop is None or value is None:
            cleaned[key] = value
        else:
            cleaned[key] = prop.clean(value, f"{path}.{key}")
    for key, prop in schema.items():
        if prop.required and cleaned.get(key) in (None, ""):
            raise EventValidationError(f"{path}.{key}", "is required")
    return cleaned


@dataclass(frozen=True)
class EventType:
    """A registered kind of event.

    ``value_property`` names the property that becomes the event's value when the caller
    gives none (``total`` for orders). ``contact_required`` refuses anonymous events.
    """

    name: str
    label: str
    properties: Mapping[str, Prop] = field(default_factory=dict)
    value_property: str | None = None
    contact_required: bool = False
    description: str = ""

    def clean(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        return clean_properties(self.properties, properties, "properties")


_registry: dict[str, EventType] = {}


def register_event_type(
    name: str,
    *,
    label: str | None = None,
    properties: Mapping[str, Prop] | None = None,
    value_property: str | None = None,
    contact_required: bool = False,
    description: str = "",
    replace: bool = False,
) -> EventType:
    """Register an event type the host can then ``track()``; returns it."""
    if not name or not name.replace("_", "").isalnum() or not name.islower() or len(name) > 64:
        raise ValueError(
            f"event type names are lower-case letters, digits and underscores (≤ 64): {name!r}"
        )
    if name in _registry and not replace:
        raise ValueError(f"event type {name!r} is already registered (pass replace=True)")
    for prop_name, prop in (properties or {}).items():
        if prop.kind not in _CLEANERS:
            raise ValueError(f"{name}.{prop_name}: unknown property kind {prop.kind!r}")
    event_type = EventType(
        name=name,
        label=label or name.replace("_", " ").capitalize(),
        properties=dict(properties or {}),
        value_property=value_property,
        contact_required=contact_required,
        description=description,
    )
    _registry[name] = event_type
    return event_type


def get_event_type(name: Any) -> EventType:
    if not isinstance(name, str):
        raise EventValidationError("event_type", f"expected a string, got {type(name).__name__}")
    try:
        return _registry[name]
    except KeyError:
        raise UnknownEventType(name, list(_registry)) from None


def registered_event_types() -> list[EventType]:
    return sorted(_registry.values(), key=lambda event_type: event_type.name)


def label_for(name: str) -> str:
    event_type = _registry.get(name)
    return event_type.label if event_type else name


# Built-in types -------------------------------------------------------------------------

register_event_type(
    "page_viewed",
    label="Viewed a page",
    properties={
        "url": Prop("str", required=True, max_length=2000),
        "title": Prop("str", max_length=500),
        "page_id": Prop("int"),
        "page_type": Prop("str", max_length=200),
        "referrer": Prop("str", max_length=2000),
    },
)
register_event_type(
    "product_viewed",
    label="Viewed a product",
    properties={
        "product_id": Prop("str", required=True, max_length=100),
        "name": Prop("str", max_length=300),
        "category": Prop("str", max_length=200),
        "price": Prop("number", min_value=0),
        "url": Prop("str", max_length=2000),
        "image_url": Prop("str", max_length=2000),
    },
)
register_event_type(
    "cart_updated",
    label="Updated their cart",
    properties={
        "items": Prop("items", required=True, help="the whole cart after the change"),
        "cart_total": Prop("number", min_value=0),
        "action": Prop("str", max_length=50, help="added, removed, changed or cleared"),
        "product_id": Prop("str", max_length=100, help="the line that changed"),
    },
    value_property="cart_total",
)
register_event_type(
    "checkout_started",
    label="Started checkout",
    properties={
        "items": Prop("items", required=True),
        "cart_total": Prop("number", min_value=0),
    },
    value_property="cart_total",
)
register_event_type(
    "order_placed",
    label="Placed an order",
    properties={
        "order_id": Prop("str", required=True, max_length=100),
        "items": Prop("items", required=True),
        "total": Prop("number", required=True, min_value=0),
        "discount": Prop("number", min_value=0),
        "shipping": Prop("number", min_value=0),
    },
    value_property="total",
    contact_required=True,
)
register_event_type(
    "signed_up",
    label="Signed up",
    properties={
        "source": Prop("str", max_length=200),
        "form": Prop("str", max_length=200),
    },
    contact_required=True,
)
# Email engagement, recorded by the app itself (tracked links, the open pixel, provider
# webhooks and replies); segments and flows read them like any other event.
register_event_type(
    "email_opened",
    label="Opened an email",
    properties={"message_id": Prop("int"), "source": Prop("str", max_length=100)},
    contact_required=True,
)
register_event_type(
    "email_clicked",
    label="Clicked a link in an email",
    properties={
        "message_id": Prop("int"),
        "url": Prop("str", max_length=2000),
        "source": Prop("str", max_length=100),
    },
    contact_required=True,
)
register_event_type(
    "email_replied",
    label="Replied to an email",
    properties={"message_id": Prop("int"), "source": Prop("str", max_length=100)},
    contact_required=True,
)
