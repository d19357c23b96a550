"""The built-in conditions. Each compiles to a ``Q`` over ``Contact``; none filters in Python.

Event conditions read the event log through ``contact_id IN (SELECT …)`` for what is
there and ``NOT EXISTS (…)`` for what is not, so PostgreSQL can plan them as semi- and
anti-joins driven by the ``(type, occurred_at, contact)``, ``(contact, type,
occurred_at)`` and orders' ``(contact, occurred_at, value)`` indexes (docs/segments.md
lists the indexes each condition relies on); the compiler turns them into ``EXISTS`` where
they end up inside ``OR`` or under ``NOT``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db.models import (
    Avg,
    CharField,
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, ExtractDay, ExtractMonth
from django.db.models.lookups import Exact, In

from ..conf import app_settings
from ..exceptions import SegmentRuleError
from ..models import ConsentStatus, Event, Suppression
from ..models.contacts import SuppressionReason
from .conditions import UNITS, CompileContext, Param, register_condition
from .properties import OPERATORS, VALUE_TYPES, JSONPredicate, clean_comparison

ORDER_EVENT = "order_placed"
EMAIL_EVENTS = {
    "opened": ("email_opened",),
    "clicked": ("email_clicked",),
    "opened_or_clicked": ("email_opened", "email_clicked"),
    "replied": ("email_replied",),
}

# Contact fields ------------------------------------------------------------------------

#: Contact fields a rule may compare, with their type.
CONTACT_FIELDS: dict[str, tuple[str, str]] = {
    "email": ("Email address", "text"),
    "first_name": ("First name", "text"),
    "last_name": ("Last name", "text"),
    "time_zone": ("Time zone", "text"),
    "locale": ("Locale", "text"),
    "source": ("Source of sign-up", "text"),
    "email_frequency": ("Email frequency preference", "text"),
    "birthday": ("Birthday", "date"),
    "customer_since": ("Customer since", "date"),
    "created_at": ("Signed up", "date"),
}
ALL_OPERATORS = tuple(dict.fromkeys(op for ops in OPERATORS.values() for op in ops))


def _check_field(params: dict[str, Any], path: str) -> None:
    value_type = CONTACT_FIELDS[params["field"]][1]
    comparison = {"type": value_type, **params}
    params.update(clean_comparison(comparison, path))
    params.pop("type")


@register_condition(
    "field",
    label="Contact field",
    group="Profile",
    params=[
        Param("field", "choice", choices=[(k, v[0]) for k, v in CONTACT_FIELDS.items()]),
        Param("operator", "choice", choices=[(op, op) for op in ALL_OPERATORS]),
        Param("value", "value", required=False),
    ],
    check=_check_field,
)
def field_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """A contact field compared with a value: text ignoring case, dates by day."""
    name, operator = params["field"], params["operator"]
    value_type = CONTACT_FIELDS[name][1]
    if value_type == "text":
        return _text_field(name, operator, params.get("value"))
    return _date_field(name, operator, params.get("value"), context)


def _text_field(name: str, operator: str, value: Any) -> Q:
    if operator in ("is_set", "is_not_set"):
        q = ~Q(**{name: ""})
    elif operator in ("equals", "not_equals"):
        q = Q(**{f"{name}__iexact": value})
    elif operator in ("contains", "not_contains"):
        q = Q(**{f"{name}__icontains": value})
    elif operator == "starts_with":
        q = Q(**{f"{name}__istartswith": value})
    else:  # in, not_in
        q = Q()
        for item in value:
            q |= Q(**{f"{name}__iexact": item})
    return ~q if operator.startswith(("not_", "is_not")) else q


def _date_field(name: str, operator: str, value: Any, context: CompileContext) -> Q:
    if operator in ("is_set", "is_not_set"):
        q = Q(**{f"{name}__isnull": False})
        return q if operator == "is_set" else ~q
    today = context.today
    if operator == "within_last_days":
        low, high = today - dt.timedelta(days=value), today
    elif operator == "more_than_days_ago":
        low, high = None, today - dt.timedelta(days=value + 1)
    elif operator == "between":
        low, high = dt.date.fromisoformat(value[0]), dt.date.fromisoformat(value[1])
    elif operator == "gt":
        low, high = dt.date.fromisoformat(value) + dt.timedelta(days=1), None
    elif operator == "lt":
        low, high = None, dt.date.fromisoformat(value) - dt.timedelta(days=1)
    else:  # equals, not_equals
        low = high = dt.date.fromisoformat(value)
    q = _day_range(name, low, high, context)
    return ~q if operator == "not_equals" else q


def _day_range(name: str, low: dt.date | None, high: dt.date | None, context: CompileContext) -> Q:
    """``low <= field <= high`` by day; a datetime field by day in the site's time zone."""
    q = Q(**{f"{name}__isnull": False})
    if name == "created_at":
        if low is not None:
            q &= Q(created_at__gte=_midnight(low, context))
        if high is not None:
            q &= Q(created_at__lt=_midnight(high + dt.timedelta(days=1), context))
        return q
    if low is not None:
        q &= Q(**{f"{name}__gte": low})
    if high is not None:
        q &= Q(**{f"{name}__lte": high})
    return q


def _midnight(day: dt.date, context: CompileContext) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=context.time_zone)


def _check_attribute(params: dict[str, Any], path: str) -> None:
    params.update(clean_comparison(params, path))


@register_condition(
    "attribute",
    label="Custom attribute",
    group="Profile",
    params=[
        Param("attribute", "attribute", help="The attribute's name, e.g. favourite_category"),
        Param("type", "choice", choices=list(VALUE_TYPES.items()), default="text"),
        Param("operator", "choice", choices=[(op, op) for op in ALL_OPERATORS]),
        Param("value", "value", required=False),
    ],
    check=_check_attribute,
)
def attribute_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """A custom attribute compared as text, a number, a date or yes/no."""
    return Q(JSONPredicate(F("attributes"), params["attribute"], params, context.today))


@register_condition(
    "consent",
    label="Consent",
    group="Profile",
    params=[Param("status", "choices", choices=ConsentStatus.choices)],
)
def consent_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """The contact's marketing consent is one of these."""
    return Q(consent_status__in=params["status"])


@register_condition(
    "suppressed",
    label="On the suppression list",
    group="Profile",
    params=[
        Param("suppressed", "bool", default=True),
        Param("reasons", "choices", required=False, choices=SuppressionReason.choices),
    ],
)
def suppressed_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """The address is (or is not) suppressed, optionally for one of these reasons."""
    rows = Suppression.objects.filter(email_hash=OuterRef("email_hash"))
    if params.get("reasons"):
        rows = rows.filter(reason__in=params["reasons"])
    q = Q(Exists(rows))
    return q if params["suppressed"] else ~q


# Anniversaries -------------------------------------------------------------------------

ANNIVERSARY_FIELDS = {
    "birthday": "Birthday",
    "created_at": "Sign-up anniversary",
    "customer_since": "Customer anniversary",
    "attribute": "A date attribute",
}


@register_condition(
    "anniversary",
    label="Birthday or anniversary coming up",
    group="Dates",
    params=[
        Param("field", "choice", choices=list(ANNIVERSARY_FIELDS.items()), default="birthday"),
        Param("attribute", "attribute", when={"field": ["attribute"]}),
        Param("days", "int", default=7, min_value=0, max_value=365, help="0 means today"),
    ],
)
def anniversary_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """The date's day and month fall today or in the next N days (29 February is
    celebrated on the 28th in other years); dates from today or later do not count."""
    days = anniversary_days(context.today, params["days"])
    name = params["field"]
    if name == "attribute":
        comparison = {"type": "date", "operator": "anniversary", "value": sorted(days)}
        return Q(_Anniversary(F("attributes"), params["attribute"], comparison, context.today))
    if name == "created_at":
        month = ExtractMonth("created_at", tzinfo=context.time_zone)
        day = ExtractDay("created_at", tzinfo=context.time_zone)
        before = Q(created_at__lt=_midnight(context.today, context))
    else:
        month, day = _Month(name), _Day(name)
        before = Q(**{f"{name}__lt": context.today})
    by_month: dict[int, list[int]] = {}
    for month_day in sorted(days):
        by_month.setdefault(int(month_day[:2]), []).append(int(month_day[3:]))
    matches = Q()
    for number, month_days in by_month.items():
        matches |= Q(Exact(month, number)) & Q(In(day, month_days))
    return before & matches


def anniversary_days(today: dt.date, days: int) -> set[str]:
    """``MM-DD`` of each day from today to ``days`` ahead (with 02-29 on a common year's 02-28)."""
    wanted = set()
    for offset in range(days + 1):
        day = today + dt.timedelta(days=offset)
        wanted.add(day.strftime("%m-%d"))
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            wanted.add("02-29")
    return wanted


class _Month(ExtractMonth):
    """``EXTRACT(MONTH …)`` of a date column; on SQLite, read from its text.

    Django's date extracts on SQLite are Python callbacks, two a row over the whole table
    (half a second or more for 100,000 contacts); a date column there is ``YYYY-MM-DD`` text.
    """

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.lhs)
        return f"CAST(substr({sql}, 6, 2) AS INTEGER)", params


class _Day(ExtractDay):
    """``EXTRACT(DAY …)`` of a date column; on SQLite, read from its text (see _Month)."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.lhs)
        return f"CAST(substr({sql}, 9, 2) AS INTEGER)", params


class _Anniversary(JSONPredicate):
    """A date attribute whose ``MM-DD`` is one of the wanted days, before today."""

    def _predicate(
        self, dialect: Any, doc: str, key: str, positive: str, params: list[Any]
    ) -> str:
        value = dialect.typed(doc, key, "date")
        month_days = self.comparison["value"]
        params.extend(month_days)
        params.append(self.today.isoformat())
        placeholders = ", ".join(["%s"] * len(month_days))
        return f"substr({value}, 6, 5) IN ({placeholders}) AND {value} < %s"


# Events --------------------------------------------------------------------------------

COUNT_OPERATORS = [
    ("at_least", "at least"),
    ("at_most", "at most"),
    ("exactly", "exactly"),
    ("none", "never (zero times)"),
]


def window_q(window: Mapping[str, Any], context: CompileContext, field: str = "occurred_at") -> Q:
    """Events within the window: ``last`` N units up to now, or ``between`` A and B ago."""
    if window["type"] == "ever":
        return Q()
    unit = dt.timedelta(seconds=UNITS[window["unit"]])
    if window["type"] == "last":
        return Q(**{f"{field}__gte": context.now - window["amount"] * unit})
    return Q(
        **{
            f"{field}__gte": context.now - window["to"] * unit,
            f"{field}__lte": context.now - window["from"] * unit,
        }
    )


def matching_events(
    event_types: str | tuple[str, ...],
    context: CompileContext,
    *,
    window: Mapping[str, Any] | None = None,
    filters: list[Mapping[str, Any]] | tuple[()] = (),
) -> QuerySet[Event]:
    """A contact's events of these types in the window that pass the property filters."""
    types = (event_types,) if isinstance(event_types, str) else event_types
    events = Event.objects.order_by().filter(contact_id__isnull=False)
    if types == (ORDER_EVENT,):
        # Written into the SQL, not bound: SQLite reads a partial index (the orders one)
        # without visiting the table only when its WHERE is implied by the query's text.
        events = events.filter(type=RawSQL(f"'{ORDER_EVENT}'", (), output_field=CharField()))
    elif len(types) == 1:
        events = events.filter(type=types[0])
    else:
        events = events.filter(type__in=types)
    if window:
        events = events.filter(window_q(window, context))
    for rule in filters:
        events = events.filter(_property_predicate(rule, context))
    return events


def _property_predicate(rule: Mapping[str, Any], context: CompileContext) -> Q:
    name = rule["property"]
    if name.startswith("items."):
        predicate = JSONPredicate(F("properties"), "items", rule, context.today, name[6:])
    else:
        predicate = JSONPredicate(F("properties"), name, rule, context.today)
    return Q(predicate)


def counted(events: QuerySet[Event], operator: str, count: int) -> Q:
    """Contacts with ``operator`` ``count`` of ``events``: a semi- or anti-join."""
    if operator == "none" or (operator == "exactly" and count == 0):
        return ~Q(Exists(events.filter(contact_id=OuterRef("pk"))))
    if operator == "at_least" and count <= 1:
        return Q(pk__in=events.values("contact_id"))
    # COUNT(*), not COUNT(id): the same for a primary key, and an index without the id
    # can then answer alone.
    per_contact: Any = events.values("contact_id").annotate(n=Count("*"))
    if operator == "at_least":
        return Q(pk__in=per_contact.filter(n__gte=count).values("contact_id"))
    if operator == "exactly":
        return Q(pk__in=per_contact.filter(n=count).values("contact_id"))
    # at most: everyone but those with more.
    more = (
        events.filter(contact_id=OuterRef("pk"))
        .values("contact_id")
        .annotate(n=Count("*"))
        .filter(n__gt=count)
    )
    return ~Q(Exists(more))


def _check_event(params: dict[str, Any], path: str) -> None:
    operator = params.get("count_operator", "at_least")
    if operator == "none":
        params.pop("count", None)
    elif operator == "at_least" and params.get("count", 1) < 1:
        raise SegmentRuleError(f"{path}.count", "must be at least 1 (use 'never' for zero)")
    if params.get("without_filters") and not params.get("without_event"):
        raise SegmentRuleError(f"{path}.without_event", "is required with its filters")


@register_condition(
    "event",
    label="Did something",
    group="Behaviour",
    params=[
        Param("event_type", "event_type", label="Event"),
        Param("filters", "filters", required=False, label="Where"),
        Param("count_operator", "choice", choices=COUNT_OPERATORS, default="at_least"),
        Param(
            "count",
            "int",
            default=1,
            min_value=0,
            max_value=100_000,
            when={"count_operator": ["at_least", "at_most", "exactly"]},
        ),
        Param("window", "window", default={"type": "ever"}, label="When"),
        Param(
            "without_event",
            "event_type",
            required=False,
            label="And no … since",
            help="e.g. cart updated, and no order placed after it",
        ),
        Param("without_filters", "filters", required=False, label="Where (since)"),
    ],
    check=_check_event,
)
def event_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """Did an event a number of times in a window, optionally with no other event since."""
    events = matching_events(
        params["event_type"],
        context,
        window=params["window"],
        filters=params.get("filters") or (),
    )
    if params.get("without_event"):
        later = matching_events(
            params["without_event"], context, filters=params.get("without_filters") or ()
        ).filter(contact_id=OuterRef("contact_id"), occurred_at__gt=OuterRef("occurred_at"))
        events = events.filter(~Exists(later))
    operator = params["count_operator"]
    return counted(events, operator, params.get("count", 0))


# Money ---------------------------------------------------------------------------------

MONEY_METRICS = {
    "total_spend": "Total spend",
    "order_count": "Number of orders",
    "average_order_value": "Average order value",
}
MONEY_OPERATORS = ("gt", "gte", "lt", "lte", "equals", "between")


def _check_money(params: dict[str, Any], path: str) -> None:
    comparison = clean_comparison({"type": "number", **params}, path)
    params.update(value=comparison["value"])


@register_condition(
    "money",
    label="Spend and orders",
    group="Purchases",
    params=[
        Param("metric", "choice", choices=list(MONEY_METRICS.items()), default="total_spend"),
        Param("operator", "choice", choices=[(op, op) for op in MONEY_OPERATORS]),
        Param("value", "value"),
        Param("window", "window", default={"type": "ever"}, label="When"),
    ],
    check=_check_money,
)
def money_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """Total spend, number of orders or average order value (from ``order_placed``)."""
    orders = matching_events(ORDER_EVENT, context, window=params["window"])
    metric, operator, value = params["metric"], params["operator"], params["value"]
    aggregates = {
        "total_spend": Coalesce(Sum("value"), Decimal(0)),
        "order_count": Count("*"),
        "average_order_value": Avg("value"),
    }
    per_contact = orders.values("contact_id").annotate(metric=aggregates[metric])
    bounds = [Decimal(str(b)) for b in (value if isinstance(value, list) else [value])]
    lookup = {
        "gt": "gt",
        "gte": "gte",
        "lt": "lt",
        "lte": "lte",
        "equals": "exact",
        "between": "range",
    }[operator]
    if metric == "order_count":
        # A count is whole: "at least 2.5 orders" is "at least 3" (and an IntegerField
        # would otherwise truncate 2.5 to 2).
        lookup, bounds = _whole_bounds(lookup, bounds)
        if not bounds:
            return (
                NOBODY_Q
                if not _holds_for_zero(operator, value)
                else ~Q(Exists(orders.filter(contact_id=OuterRef("pk"))))
            )
    operand: Any = bounds if lookup == "range" else bounds[0]
    having = per_contact.filter(**{f"metric__{lookup}": operand}).values("contact_id")
    q = Q(pk__in=having)
    if metric != "average_order_value" and _holds_for_zero(operator, value):
        # Contacts with no orders in the window spent 0 in 0 orders.
        q |= ~Q(Exists(orders.filter(contact_id=OuterRef("pk"))))
    return q


def _whole_bounds(lookup: str, bounds: list[Decimal]) -> tuple[str, list[Decimal]]:
    """The same comparison with whole-number bounds; no bounds when nothing whole fits."""
    low, high = bounds[0], bounds[-1]
    if lookup == "gt":
        return "gte", [math.floor(low) + Decimal(1)]
    if lookup == "gte":
        return "gte", [Decimal(math.ceil(low))]
    if lookup == "lt":
        return "lte", [Decimal(math.ceil(low)) - 1]
    if lookup == "lte":
        return "lte", [Decimal(math.floor(low))]
    if lookup == "exact":
        return "exact", [low] if low == low.to_integral_value() else []
    whole = [Decimal(math.ceil(low)), Decimal(math.floor(high))]
    return "range", whole if whole[0] <= whole[1] else []


NOBODY_Q = Q(pk__in=[])


def _holds_for_zero(operator: str, value: Any) -> bool:
    bounds = value if isinstance(value, list) else [value]
    low = Decimal(str(bounds[0]))
    return {
        "gt": Decimal(0) > low,
        "gte": Decimal(0) >= low,
        "lt": Decimal(0) < low,
        "lte": Decimal(0) <= low,
        "equals": low == 0,
        "between": low <= 0 <= Decimal(str(bounds[-1])),
    }[operator]


# Engagement ----------------------------------------------------------------------------


@register_condition(
    "email_engagement",
    label="Opened, clicked or replied",
    group="Engagement",
    params=[
        Param("action", "choice", choices=[(k, k.replace("_", " ")) for k in EMAIL_EVENTS]),
        Param("did", "bool", default=True, label="Did it (no: did not)"),
        Param("days", "int", default=30, min_value=1, max_value=3650),
    ],
)
def email_engagement_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """Opened, clicked or replied to an email in the last N days (or did not)."""
    window = {"type": "last", "amount": params["days"], "unit": "days"}
    events = matching_events(EMAIL_EVENTS[params["action"]], context, window=window)
    return counted(events, "at_least" if params["did"] else "none", 1)


@register_condition(
    "activity",
    label="Active or dormant",
    group="Engagement",
    params=[
        Param("status", "choice", choices=[("active", "Active"), ("dormant", "Dormant")]),
        Param("days", "int", default=90, min_value=1, max_value=3650),
    ],
)
def activity_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """Active: engaged (opened, clicked, replied, visited or bought) in the last N days;
    dormant: not, and known for longer than that."""
    window = {"type": "last", "amount": params["days"], "unit": "days"}
    types = tuple(app_settings.ENGAGEMENT_EVENT_TYPES)
    engaged = matching_events(types, context, window=window)
    if params["status"] == "active":
        return counted(engaged, "at_least", 1)
    since = context.now - dt.timedelta(days=params["days"])
    return Q(created_at__lt=since) & counted(engaged, "none", 0)


# Lifecycle -----------------------------------------------------------------------------

LIFECYCLE_STAGES = [
    ("prospect", "Prospect (never ordered)"),
    ("new", "New customer"),
    ("active", "Active customer"),
    ("at_risk", "At risk"),
    ("lapsed", "Lapsed"),
]


@register_condition(
    "lifecycle",
    label="Lifecycle stage",
    group="Purchases",
    params=[Param("stages", "choices", choices=LIFECYCLE_STAGES)],
)
def lifecycle_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """Stage by order recency and frequency; thresholds in the LIFECYCLE setting."""
    q = Q()
    for stage in params["stages"]:
        q |= lifecycle_q(stage, context)
    return q


def lifecycle_q(stage: str, context: CompileContext) -> Q:
    limits = lifecycle_settings()
    orders = matching_events(ORDER_EVENT, context)
    if stage == "prospect":
        return ~Q(Exists(orders.filter(contact_id=OuterRef("pk"))))
    ago = {key: context.now - dt.timedelta(days=limits[key]) for key in limits if "days" in key}
    per_contact = orders.values("contact_id").annotate(
        last=Max("occurred_at"), first=Min("occurred_at"), n=Count("*")
    )
    is_new = Q(first__gte=ago["new_days"], n__lt=limits["repeat_orders"])
    stages = {
        "new": is_new,
        "active": Q(last__gte=ago["active_days"]) & ~is_new,
        "at_risk": Q(last__lt=ago["active_days"], last__gte=ago["lapsed_days"]),
        "lapsed": Q(last__lt=ago["lapsed_days"]),
    }
    return Q(pk__in=per_contact.filter(stages[stage]).values("contact_id"))


def lifecycle_settings() -> dict[str, int]:
    return {**DEFAULT_LIFECYCLE, **(app_settings.LIFECYCLE or {})}


DEFAULT_LIFECYCLE = {"new_days": 30, "active_days": 90, "lapsed_days": 180, "repeat_orders": 2}


# Other segments ------------------------------------------------------------------------


@register_condition(
    "segment",
    label="In another segment",
    group="Segments",
    params=[
        Param("segment", "segment"),
        Param("member", "bool", default=True, label="In it (no: not in it)"),
    ],
)
def segment_condition(params: Mapping[str, Any], context: CompileContext) -> Q:
    """Membership of another segment, its rules expanded in place (cycles refused)."""
    from .compiler import segment_q

    q = segment_q(params["segment"], context)
    return q if params["member"] else ~q
