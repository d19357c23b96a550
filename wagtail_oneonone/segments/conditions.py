"""The condition registry: what a rule can say, its parameters, and how it becomes SQL.

A condition is a function from its cleaned parameters (and a :class:`CompileContext`) to a
``Q`` over ``Contact``. Its parameters are declared with :class:`Param`, so the same
declaration validates a rule tree, tells the admin's builder which inputs to show, and
documents the condition::

    @register_condition(
        "loyalty_points",
        label="Loyalty points at least",
        params=[Param("points", "int", min_value=0)],
    )
    def loyalty_points(params, context):
        return Q(attributes__points__gte=params["points"])
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q

from ..exceptions import SegmentRuleError

#: Units a time window or a duration may use, in seconds.
UNITS = {"hours": 3600, "days": 86400, "weeks": 7 * 86400}
#: The furthest back a window may reach (ten years), so dates stay in range on every database.
MAX_WINDOW_SECONDS = 10 * 366 * 86400
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_TEXT = 500
MAX_LIST = 100

Choices = Sequence[tuple[str, Any]] | Callable[[], Sequence[tuple[str, Any]]]


@dataclass(frozen=True)
class CompileContext:
    """What compiling needs besides the rules: the moment rules are evaluated at, and the
    chain of segments being expanded (to refuse cycles)."""

    now: dt.datetime
    time_zone: dt.tzinfo
    segments: tuple[int, ...] = ()

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.time_zone).date()


@dataclass(frozen=True)
class Param:
    """One parameter of a condition.

    ``kind`` is one of ``text``, ``int``, ``number``, ``date``, ``bool``, ``choice`` (one of
    ``choices``), ``choices`` (a list of them), ``texts`` (a list of strings), ``value`` (a
    string, number or boolean, or a list of them; the condition's ``check`` types it),
    ``event_type``, ``segment``, ``attribute`` (a custom attribute's key), ``window`` (a
    time window) or ``filters`` (event property filters).
    """

    name: str
    kind: str
    label: str = ""
    required: bool = True
    default: Any = None
    choices: Choices = ()
    min_value: float | None = None
    max_value: float | None = None
    help: str = ""
    #: Shown only when another parameter has one of these values: ``{"operator": [...]}``.
    when: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def choice_list(self) -> list[tuple[str, str]]:
        choices = self.choices() if callable(self.choices) else self.choices
        return [(str(value), str(label)) for value, label in choices]

    def describe(self) -> dict[str, Any]:
        """The parameter for the admin's builder, as JSON."""
        from .schema import param_choices

        return {
            "name": self.name,
            "kind": self.kind,
            "label": self.label or self.name.replace("_", " ").capitalize(),
            "required": self.required,
            "default": self.default,
            "choices": param_choices(self),
            "min": self.min_value,
            "max": self.max_value,
            "help": self.help,
            "when": {key: list(values) for key, values in self.when.items()},
        }


Compiler = Callable[[Mapping[str, Any], CompileContext], Q]


@dataclass(frozen=True)
class Condition:
    """A registered condition; ``compile`` turns its cleaned parameters into a ``Q``."""

    name: str
    label: str
    params: tuple[Param, ...]
    compile: Compiler
    group: str = "Other"
    description: str = ""
    #: Further checks after each parameter is cleaned; raises SegmentRuleError.
    check: Callable[[dict[str, Any], str], None] | None = None

    def clean(self, data: Mapping[str, Any], path: str) -> dict[str, Any]:
        """``data`` (a condition node) checked and normalised; unknown keys are refused."""
        known = {param.name for param in self.params} | {"condition"}
        for key in data:
            if key not in known:
                raise SegmentRuleError(
                    f"{path}.{key}",
                    f"the {self.name!r} condition has no parameter {key!r} "
                    f"(it takes {', '.join(p.name for p in self.params) or 'none'})",
                )
        cleaned: dict[str, Any] = {}
        for param in self.params:
            if param.when and not _applies(param, cleaned):
                continue
            value = data.get(param.name)
            if value is None or value == "" or value == []:
                if param.default is not None:
                    value = param.default
                elif param.required:
                    raise SegmentRuleError(f"{path}.{param.name}", "is required")
                else:
                    continue
            cleaned[param.name] = clean_value(param, value, f"{path}.{param.name}")
        if self.check is not None:
            self.check(cleaned, path)
        return cleaned


def _applies(param: Param, cleaned: Mapping[str, Any]) -> bool:
    return all(cleaned.get(key) in values for key, values in param.when.items())


_registry: dict[str, Condition] = {}


def register_condition(
    name: str,
    *,
    label: str,
    params: Sequence[Param] = (),
    group: str = "Other",
    description: str = "",
    check: Callable[[dict[str, Any], str], None] | None = None,
    replace: bool = False,
) -> Callable[[Compiler], Compiler]:
    """Register the decorated function as the condition ``name``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
        raise ValueError(f"condition names are lower-case letters, digits and _: {name!r}")
    for param in params:
        if param.kind not in _CLEANERS:
            raise ValueError(f"{name}.{param.name}: unknown parameter kind {param.kind!r}")

    def decorator(function: Compiler) -> Compiler:
        if name in _registry and not replace:
            raise ValueError(f"condition {name!r} is already registered (pass replace=True)")
        _registry[name] = Condition(
            name=name,
            label=label,
            params=tuple(params),
            compile=function,
            group=group,
            description=description or (function.__doc__ or "").strip().split("\n")[0],
            check=check,
        )
        return function

    return decorator


def unregister_condition(name: str) -> None:
    _registry.pop(name, None)


def get_condition(name: Any, path: str = "condition") -> Condition:
    from . import builtins  # noqa: F401  (registers the built-in conditions)

    if not isinstance(name, str) or name not in _registry:
        raise SegmentRuleError(
            path,
            f"unknown condition {name!r}; known conditions are {', '.join(sorted(_registry))}",
        )
    return _registry[name]


def registered_conditions() -> list[Condition]:
    from . import builtins  # noqa: F401

    return list(_registry.values())


# Cleaning parameter values -------------------------------------------------------------


def clean_value(param: Param, value: Any, path: str) -> Any:
    return _CLEANERS[param.kind](param, value, path)


def _clean_text(param: Param, value: Any, path: str) -> str:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise SegmentRuleError(path, f"expected text, got {_kind(value)}")
    if len(value) > MAX_TEXT:
        raise SegmentRuleError(path, f"is longer than {MAX_TEXT} characters")
    if "\x00" in value:
        raise SegmentRuleError(path, "contains a NUL character")
    return value


def _number(param: Param, value: Any, path: str) -> Decimal:
    if isinstance(value, bool):
        raise SegmentRuleError(path, f"expected a number, got {value!r}")
    try:
        number = Decimal(str(value).strip()) if isinstance(value, int | float | str) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or abs(number) > Decimal(10) ** 12:
        raise SegmentRuleError(path, f"expected a number, got {value!r}")
    if param.min_value is not None and number < Decimal(str(param.min_value)):
        raise SegmentRuleError(path, f"must be at least {param.min_value:g}")
    if param.max_value is not None and number > Decimal(str(param.max_value)):
        raise SegmentRuleError(path, f"must be at most {param.max_value:g}")
    return number


def _clean_int(param: Param, value: Any, path: str) -> int:
    number = _number(param, value, path)
    if number != number.to_integral_value():
        raise SegmentRuleError(path, f"expected a whole number, got {value!r}")
    return int(number)


def _clean_number(param: Param, value: Any, path: str) -> int | float:
    number = _number(param, value, path)
    # JSON has no decimals: whole numbers stay exact, the rest become floats.
    return int(number) if number == number.to_integral_value() else float(number)


def _clean_date(param: Param, value: Any, path: str) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            pass
    raise SegmentRuleError(path, f"expected a date as YYYY-MM-DD, got {value!r}")


def _clean_bool(param: Param, value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise SegmentRuleError(path, f"expected true or false, got {value!r}")


def _clean_choice(param: Param, value: Any, path: str) -> str:
    allowed = [choice for choice, _label in param.choice_list()]
    if not isinstance(value, str) or value not in allowed:
        raise SegmentRuleError(path, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _clean_choices(param: Param, value: Any, path: str) -> list[str]:
    values = _list(value, path)
    return [_clean_choice(param, item, f"{path}[{index}]") for index, item in enumerate(values)]


def _clean_texts(param: Param, value: Any, path: str) -> list[str]:
    values = _list(value, path)
    return [_clean_text(param, item, f"{path}[{index}]") for index, item in enumerate(values)]


def _clean_value(param: Param, value: Any, path: str) -> Any:
    if isinstance(value, list | tuple):
        items = _list(value, path)
        return [_clean_value(param, item, f"{path}[{i}]") for i, item in enumerate(items)]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return _clean_number(param, value, path)
    return _clean_text(param, value, path)


def _list(value: Any, path: str) -> list[Any]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise SegmentRuleError(path, "expected a non-empty list")
    if len(value) > MAX_LIST:
        raise SegmentRuleError(path, f"has more than {MAX_LIST} values")
    return list(value)


def _clean_event_type(param: Param, value: Any, path: str) -> str:
    from ..events.types import registered_event_types

    known = [event_type.name for event_type in registered_event_types()]
    if not isinstance(value, str) or value not in known:
        raise SegmentRuleError(
            path, f"unknown event type {value!r}; registered types are {', '.join(known)}"
        )
    return value


def _clean_segment(param: Param, value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SegmentRuleError(path, f"expected a segment id, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise SegmentRuleError(path, f"expected a segment id, got {value!r}") from None


def _clean_attribute(param: Param, value: Any, path: str) -> str:
    if not isinstance(value, str) or not ATTRIBUTE_KEY.match(value):
        raise SegmentRuleError(
            path,
            f"attribute names are letters, digits and _ (not starting with a digit, ≤ 64): "
            f"{value!r}",
        )
    return value


def _clean_window(param: Param, value: Any, path: str) -> dict[str, Any]:
    """``{"type": "ever"}``, ``{"type": "last", "amount": 7, "unit": "days"}`` or
    ``{"type": "between", "from": 14, "to": 21, "unit": "days"}`` (that long ago)."""
    if not isinstance(value, Mapping):
        raise SegmentRuleError(path, f"expected a time window, got {_kind(value)}")
    kind = value.get("type")
    if kind == "ever":
        return {"type": "ever"}
    unit = value.get("unit", "days")
    if unit not in UNITS:
        raise SegmentRuleError(f"{path}.unit", f"expected one of {', '.join(UNITS)}")
    bound = Param("amount", "int", min_value=0)
    if kind == "last":
        amount = _clean_int(bound, value.get("amount"), f"{path}.amount")
        if amount < 1:
            raise SegmentRuleError(f"{path}.amount", "must be at least 1")
        _within_range(amount, unit, f"{path}.amount")
        return {"type": "last", "amount": amount, "unit": unit}
    if kind == "between":
        start = _clean_int(bound, value.get("from"), f"{path}.from")
        end = _clean_int(bound, value.get("to"), f"{path}.to")
        if end <= start:
            raise SegmentRuleError(f"{path}.to", "must be more than 'from'")
        _within_range(end, unit, f"{path}.to")
        return {"type": "between", "from": start, "to": end, "unit": unit}
    raise SegmentRuleError(f"{path}.type", "expected 'ever', 'last' or 'between'")


def _within_range(amount: int, unit: str, path: str) -> None:
    if amount * UNITS[unit] > MAX_WINDOW_SECONDS:
        raise SegmentRuleError(path, "reaches back more than ten years")


def _clean_filters(param: Param, value: Any, path: str) -> list[dict[str, Any]]:
    from .properties import clean_filter

    if not isinstance(value, list | tuple):
        raise SegmentRuleError(path, f"expected a list of filters, got {_kind(value)}")
    if len(value) > 20:
        raise SegmentRuleError(path, "has more than 20 filters")
    return [clean_filter(item, f"{path}[{index}]") for index, item in enumerate(value)]


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


_CLEANERS: dict[str, Callable[[Param, Any, str], Any]] = {
    "text": _clean_text,
    "int": _clean_int,
    "number": _clean_number,
    "date": _clean_date,
    "bool": _clean_bool,
    "choice": _clean_choice,
    "choices": _clean_choices,
    "texts": _clean_texts,
    "value": _clean_value,
    "event_type": _clean_event_type,
    "segment": _clean_segment,
    "attribute": _clean_attribute,
    "window": _clean_window,
    "filters": _clean_filters,
}
