"""The sandboxed Jinja2 environments email templates run in, and the limits they enforce.

Two environments share one configuration: ``html`` autoescapes, ``text`` (text part,
subject, preview text) does not. Both are ``ImmutableSandboxedEnvironment``s, and on top
of the sandbox:

* Missing data never raises and never prints: :class:`MissingValue` chains through
  ``a.b.c``, stays missing through arithmetic, compares false, and ``finalize`` prints
  ``None`` as nothing. ``|default`` and ``{% for %}…{% else %}`` give fallbacks.
* Attribute names starting with ``_`` (and size-taking ``str`` methods such as
  ``ljust`` or ``format``) raise :class:`~jinja2.exceptions.SecurityError` rather than
  printing nothing, so an escape attempt fails its message visibly.
* ``|safe`` and ``{% autoescape false %}`` are not available: contact and event data
  come from visitors, so HTML escaping cannot be switched off.
* Resource limits (the sandbox alone lets a template run until killed):

  - ``range()`` and every ``{% for %}`` loop are capped at ``MAX_LOOP_ITEMS``; every loop
    of a render draws from one budget of ``LOOP_BUDGET_FACTOR * MAX_LOOP_ITEMS``
    iterations. Loops are counted by rewriting each ``{% for %}`` at parse time so its
    iterable passes through a guard filter.
  - ``*``, ``**``, ``+`` and ``%`` are intercepted (``intercepted_binops``): a string or
    list they would make longer than ``MAX_RENDERED_BYTES``, or an integer larger than
    ``MAX_INT_BITS``, is refused before it is built; ``~`` is rewritten the same way.
    Filters that take a size (``center``, ``indent``, ``format``, ``join``,
    ``replace``, ``wordwrap``, ``batch``, ``slice``, ``tojson``) check it first, and
    ``|sum`` only adds numbers.
  - Lists may hold one big list many times, so their text can be far larger than their
    memory: before a list or dict is printed (``finalize``, ``~``, ``%`` and the
    filters that make text) its size is estimated, stopping at the limit.
  - A wall-clock deadline (:data:`RENDER_TIME_LIMIT`) is checked in ``finalize``
    (every ``{{ … }}``), in every call (functions, methods, macros), in the loop guard
    and by the renderer between output chunks. It is cooperative: one Python operation
    is never interrupted, which is why the sizes above are checked before the work.

  Per-render state lives in a :class:`RenderBudget` held in a context variable, so
  compiled templates are shared between threads and renders.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache, wraps
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import (
    ChainableUndefined,
    Undefined,
    nodes,
    pass_context,
    pass_environment,
    pass_eval_context,
)
from jinja2 import filters as jinja_filters
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from ..conf import app_settings

#: Seconds one :func:`~wagtail_oneonone.rendering.render.render_email` call may take.
RENDER_TIME_LIMIT = 2.0
#: All loops of one render together may run this many times ``MAX_LOOP_ITEMS``.
LOOP_BUDGET_FACTOR = 10
#: Integers past this size (about 1,200 digits) are refused.
MAX_INT_BITS = 4096
#: Widths and precisions in ``%`` formats and date formats.
MAX_FORMAT_WIDTH = 1000

LOOP_GUARD_FILTER = "_oneonone_loop"
CONCAT_GUARD_FILTER = "_oneonone_concat"

# str/int methods whose argument sets the size of what they build.
_SIZED_METHODS = frozenset(
    {
        "center",
        "expandtabs",
        "format",
        "format_map",
        "join",
        "ljust",
        "replace",
        "rjust",
        "to_bytes",
        "translate",
        "zfill",
    }
)
_CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


class TemplateLimitError(SecurityError):
    """A template asked for more time, loop iterations or memory than allowed."""


@dataclass
class RenderBudget:
    """Limits and counters for one render, read from settings when it starts."""

    max_loop_items: int
    max_string: int
    loop_items_left: int
    time_limit: float = math.inf
    deadline: float = math.inf

    @classmethod
    def from_settings(cls, *, time_limit: float | None = None) -> RenderBudget:
        max_loop_items = int(app_settings.MAX_LOOP_ITEMS)
        return cls(
            max_loop_items=max_loop_items,
            max_string=int(app_settings.MAX_RENDERED_BYTES),
            loop_items_left=max_loop_items * LOOP_BUDGET_FACTOR,
            time_limit=math.inf if time_limit is None else time_limit,
            deadline=math.inf if time_limit is None else time.monotonic() + time_limit,
        )

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(
                f"rendering took longer than {self.time_limit:g} seconds; "
                "simplify the loops in the template"
            )

    def count_loop(self, items: int) -> None:
        if items > self.max_loop_items:
            raise TemplateLimitError(
                f"a loop over {items} items is over the limit of {self.max_loop_items} "
                "(MAX_LOOP_ITEMS)"
            )
        self.loop_items_left -= items
        if self.loop_items_left < 0:
            raise TemplateLimitError(
                "the loops in this template ran more than "
                f"{self.max_loop_items * LOOP_BUDGET_FACTOR} times in total"
            )
        self.check_time()

    def check_length(self, length: int, what: str) -> None:
        if length > self.max_string:
            raise TemplateLimitError(
                f"{what} would make {length} characters; the limit is {self.max_string} "
                "(MAX_RENDERED_BYTES)"
            )


_budget: ContextVar[RenderBudget | None] = ContextVar("oneonone_render_budget", default=None)


def current_budget() -> RenderBudget:
    """The running render's budget; outside a render (constant folding) limits without time."""
    return _budget.get() or RenderBudget.from_settings()


@contextmanager
def render_budget(time_limit: float = RENDER_TIME_LIMIT) -> Iterator[RenderBudget]:
    budget = RenderBudget.from_settings(time_limit=time_limit)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


class MissingValue(ChainableUndefined):
    """Missing data: prints nothing, chains (``a.b.c``) and stays missing in arithmetic."""

    __slots__ = ()

    # Typed loosely: Undefined declares these as raising (-> Never).
    def _stay_missing(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def _compare_false(self, *args: Any, **kwargs: Any) -> Any:
        return False

    __add__ = __radd__ = __sub__ = __rsub__ = _stay_missing
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _stay_missing
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _stay_missing
    __pow__ = __rpow__ = __pos__ = __neg__ = __call__ = _stay_missing
    __lt__ = __le__ = __gt__ = __ge__ = _compare_false

    def __int__(self, *args: Any, **kwargs: Any) -> Any:
        return 0

    def __float__(self, *args: Any, **kwargs: Any) -> Any:
        return 0.0


# Limits ----------------------------------------------------------------------------------


def _finalize(value: Any) -> Any:
    budget = _budget.get()
    if budget is not None:
        budget.check_time()
    check_printable(value)
    return "" if value is None else value


def safe_range(*args: int) -> range:
    """``range()`` capped at ``MAX_LOOP_ITEMS``."""
    budget = current_budget()
    result = range(*args)
    if len(result) > budget.max_loop_items:
        raise TemplateLimitError(
            f"range() of {len(result)} items is over the limit of {budget.max_loop_items} "
            "(MAX_LOOP_ITEMS)"
        )
    return result


def _loop_guard(value: Any) -> Any:
    """Count a ``{% for %}`` loop's items against the budget (inserted at parse time)."""
    if value is None:
        return ()
    if isinstance(value, Undefined):
        return value
    budget = current_budget()
    if hasattr(value, "__len__"):
        budget.count_loop(len(value))
        return value
    return _counted(value, budget)


def _counted(values: Iterable[Any], budget: RenderBudget) -> Iterator[Any]:
    for seen, value in enumerate(values, 1):
        if seen > budget.max_loop_items:
            budget.count_loop(seen)  # raises: one loop over the limit
        budget.count_loop(1)
        yield value


@pass_eval_context
def _concat_guard(eval_ctx: EvalContext, values: list[Any]) -> str:
    """``a ~ b``, with the length of the result checked."""
    for value in values:
        check_printable(value)
    result = markup_join(values) if eval_ctx.autoescape else str_join(values)
    current_budget().check_length(len(result), "'~'")
    return result


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


_CONTAINERS = (list, tuple, dict, set, frozenset)


def check_printable(value: Any) -> None:
    """Refuse to turn a container into text longer than the output limit.

    Lists can hold the same big list many times over, so their text grows much faster
    than the memory they use; this walks them (stopping at the limit) before ``str()``.
    """
    if not isinstance(value, _CONTAINERS):
        return
    limit = current_budget().max_string
    size, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, _CONTAINERS):
            size += 2 * len(item) + 2  # separators, a lower bound of the real text
            if size <= limit:
                stack.extend(item.items() if isinstance(item, dict) else item)
        else:
            size += 1
        if size > limit:
            raise TemplateLimitError(
                f"printing this value would make more than {limit} characters (MAX_RENDERED_BYTES)"
            )


def _printing(func: Any) -> Any:
    """Wrap a filter that turns its arguments into text with :func:`check_printable`."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @wraps(func)  # keeps jinja_pass_arg
    def checked(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[skip:], *kwargs.values()):
            check_printable(value)
        return func(*args, **kwargs)

    return checked


def _check_percent_format(fmt: str) -> None:
    for match in re.finditer(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?", fmt):
        for size in match.groups():
            if size == "*" or (size and (len(size) > 6 or int(size) > MAX_FORMAT_WIDTH)):
                raise TemplateLimitError(
                    f"format widths above {MAX_FORMAT_WIDTH} (or '*') are not allowed"
                )


def _check_int_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateLimitError(
            f"{what} would make a number of about {bits * 0.30103:.0f} digits; "
            f"the limit is about {MAX_INT_BITS * 0.30103:.0f}"
        )


# Filters ---------------------------------------------------------------------------------


def money(value: Any, currency: Any = None) -> str:
    """``12.5|money('GBP')`` → ``£12.50``; currencies without a symbol: ``12.50 CHF``."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return ""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return ""
    if not amount.is_finite() or (amount and abs(amount.adjusted()) > 15):
        return ""
    code = (currency if isinstance(currency, str) else "").strip().upper()
    code = code or str(app_settings.DEFAULT_CURRENCY).upper()
    number = f"{abs(amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)):,.2f}"
    sign = "-" if amount < 0 and number.strip("0.,") else ""
    symbol = _CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code}"


def _parse_moment(value: Any) -> date | datetime | None:
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        return None


def _zone(name: Any) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


@pass_context
def format_date(context: Context, value: Any, format: str = "%d %B %Y", tz: Any = None) -> str:
    """``'2025-05-01T09:30:00+00:00'|date('%d %B %Y')``, in the contact's time zone."""
    moment = _parse_moment(value)
    if moment is None:
        return value if isinstance(value, str) else ""  # "next spring" prints as it is
    fmt = format if isinstance(format, str) else "%d %B %Y"
    if len(fmt) > MAX_FORMAT_WIDTH or re.search(r"%[-_0^#]*\d", fmt):
        raise TemplateLimitError("date formats may not set widths (like %10d)")
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        contact = context.get("contact")
        contact_zone = contact.get("time_zone") if isinstance(contact, Mapping) else None
        zone = _zone(tz) or _zone(contact_zone) or _zone(app_settings.default_time_zone)
        if zone is not None:
            moment = moment.astimezone(zone)
    return moment.strftime(fmt)


@pass_context
def absolute_url(context: Context, value: Any) -> str:
    """``'/sale/'|absolute_url`` → ``https://shop.example/sale/``."""
    if not isinstance(value, str) or not value:
        return ""
    url = value
    site = context.get("site")
    base = str(site.get("base_url") or "") if isinstance(site, Mapping) else ""
    if not base or re.match(r"^[a-z][a-z0-9+.-]*:", url, re.IGNORECASE):
        return url
    if url.startswith("//"):
        return f"{base.split(':', 1)[0]}:{url}"
    return f"{base}{url}" if url.startswith("/") else f"{base}/{url}"


def _center(value: Any, width: int = 80) -> str:
    current_budget().check_length(int(width), "|center")
    return jinja_filters.do_center(value, width)


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    pad = len(width) if isinstance(width, str) else int(width)
    current_budget().check_length(len(text) + pad * (text.count("\n") + 1), "|indent")
    return jinja_filters.do_indent(s, width, first, blank)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_percent_format(str(value))
    result = jinja_filters.do_format(value, *args, **kwargs)
    current_budget().check_length(len(result), "|format")
    return result


def _batch(value: Any, linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    if int(linecount) > current_budget().max_loop_items:
        raise TemplateLimitError("|batch sizes are limited to MAX_LOOP_ITEMS")
    return jinja_filters.do_batch(value, linecount, fill_with)


@pass_eval_context
def _slice(eval_ctx: EvalContext, value: Any, slices: int, fill_with: Any = None) -> Any:
    if int(slices) > current_budget().max_loop_items:
        raise TemplateLimitError("|slice counts are limited to MAX_LOOP_ITEMS")
    return jinja_filters.do_slice(eval_ctx, value, slices, fill_with)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: Any = None) -> str:
    text, old_text, new_text = str(s), str(old), str(new)
    times = text.count(old_text) if old_text else len(text) + 1
    if count is not None and int(count) >= 0:
        times = min(times, int(count))
    growth = times * max(0, len(new_text) - len(old_text))
    current_budget().check_length(len(text) + growth, "|replace")
    return jinja_filters.do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Any, d: Any = "", attribute: Any = None) -> str:
    items = list(value)
    estimate = len(str(d)) * len(items) + sum(len(item) for item in items if type(item) is str)
    budget = current_budget()
    budget.check_length(estimate, "|join")
    result = jinja_filters.do_join(eval_ctx, items, d, attribute)
    budget.check_length(len(result), "|join")
    return result


@pass_context
def _wordwrap(context: Context, s: Any, width: int = 79, *args: Any, **kwargs: Any) -> str:
    text = str(s)
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None) or "\n"
    breaks = len(text) // max(int(width), 1) + 1
    current_budget().check_length(len(text) + breaks * len(str(wrapstring)), "|wordwrap")
    return jinja_filters.do_wordwrap(context.environment, s, width, *args, **kwargs)


@pass_eval_context
def _tojson(eval_ctx: EvalContext, value: Any, indent: int | None = None) -> Any:
    if indent is not None and int(indent) > 8:
        raise TemplateLimitError("|tojson indents are limited to 8")
    return jinja_filters.do_tojson(eval_ctx, value, indent)


@pass_environment
def _sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    if isinstance(start, bool) or not isinstance(start, int | float):
        raise TemplateLimitError("|sum adds numbers; its start must be a number")
    return jinja_filters.sync_do_sum(environment, iterable, attribute, start)


# Filters that turn their arguments into text.
_PRINTING_FILTERS = (
    "capitalize",
    "center",
    "e",
    "escape",
    "forceescape",
    "format",
    "indent",
    "join",
    "lower",
    "pprint",
    "replace",
    "string",
    "striptags",
    "title",
    "tojson",
    "trim",
    "truncate",
    "upper",
    "urlencode",
    "urlize",
    "wordcount",
    "wordwrap",
    "xmlattr",
)

_GUARDED_FILTERS: dict[str, Any] = {
    "sum": _sum,
    "center": _center,
    "indent": _indent,
    "format": _format,
    "batch": _batch,
    "slice": _slice,
    "replace": _replace,
    "join": _join,
    "wordwrap": _wordwrap,
    "tojson": _tojson,
}


# The environment -------------------------------------------------------------------------


class _GuardLoops(NodeTransformer):
    """Route every loop's iterable and every ``~`` through the guard filters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(
            node.iter, LOOP_GUARD_FILTER, [], [], None, None, lineno=node.lineno
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        values = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(values, CONCAT_GUARD_FILTER, [], [], None, None, lineno=node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        # Constant outputs skip finalize (Jinja escapes them first): print none as nothing.
        self.generic_visit(node)
        node.nodes = [
            nodes.Const("", lineno=child.lineno)
            if isinstance(child, nodes.Const) and child.value is None
            else child
            for child in node.nodes
        ]
        return node

    def visit_ScopedEvalContextModifier(self, node: nodes.ScopedEvalContextModifier) -> Any:
        if any(keyword.key == "autoescape" for keyword in node.options):
            raise TemplateSyntaxError(
                "{% autoescape %} is not available: contact data is always escaped",
                node.lineno,
            )
        return self.generic_visit(node)


class EmailEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox email templates run in; use :func:`get_environment`."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=MissingValue,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=0,
            extensions=["jinja2.ext.loopcontrols"],
        )
        self.globals.pop("lipsum", None)  # lipsum(n) builds n paragraphs
        self.globals["range"] = safe_range
        self.globals["money"] = money
        self.filters.pop("safe", None)
        self.filters.update(_GUARDED_FILTERS)
        self.filters.update(
            {
                "money": money,
                "date": format_date,
                "absolute_url": absolute_url,
                LOOP_GUARD_FILTER: _loop_guard,
                CONCAT_GUARD_FILTER: _concat_guard,
            }
        )
        for name in _PRINTING_FILTERS:
            self.filters[name] = _printing(self.filters[name])
        for name in ("lower", "upper"):  # the tests call str() on their value
            self.tests[name] = _printing(self.tests[name])

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Private in Jinja2 3.1, but the one place every compile and parse passes through.
        tree = super()._parse(source, name, filename)
        guarded = _GuardLoops().visit(tree)
        assert isinstance(guarded, nodes.Template)
        return guarded

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Context data is plain dicts: their keys win over dict methods (cart ``items``).
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _SIZED_METHODS and callable(value):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        return None  # str.format is refused by is_safe_attribute instead

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        if attribute in _SIZED_METHODS:
            instead = f"the |{attribute} filter" if attribute in self.filters else "a filter"
            raise SecurityError(f"the {attribute!r} method is not available; use {instead}")
        raise SecurityError(f"{attribute!r} of a {type(obj).__name__} is not available")

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = _budget.get()
        if budget is not None:
            budget.check_time()
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = current_budget()
        budget.check_time()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                size = _sized(seq)
                if size is not None and isinstance(times, int):
                    budget.check_length(size * times, "'*'")
            if type(left) is int and type(right) is int:
                _check_int_bits(left.bit_length() + right.bit_length(), "'*'")
        elif operator == "**" and type(left) is int and type(right) is int:
            if abs(left) > 1 and right > 0:
                _check_int_bits(right * left.bit_length(), "'**'")
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left)
            check_printable(right)
        result = super().call_binop(context, operator, left, right)
        size = _sized(result)
        if size is not None:
            budget.check_length(size, f"{operator!r}")
        return result


@cache
def get_environment(kind: str) -> EmailEnvironment:
    """The shared ``"html"`` (autoescaping) or ``"text"`` environment."""
    if kind not in ("html", "text"):
        raise ValueError(f"unknown template environment {kind!r}")
    return EmailEnvironment(autoescape=kind == "html")
