"""Hypothesis strategies: small worlds of contacts and events, and rule trees over them.

Values are drawn from small pools so that rules and data meet often (a random category
would almost never match anything). Text is ASCII: SQLite's ``lower()`` folds only ASCII
letters (docs/segments.md says so). Money is in halves, so averages are exact in binary.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

NOW = dt.datetime(2026, 3, 29, 11, 30, tzinfo=dt.UTC)  # the day Europe's clocks go forward
TEXTS = ["tea", "Tea", "coffee", "cups", "te", "", "London", "london", "Paris"]
CATEGORIES = ["tea", "Tea", "coffee", "cups"]
ATTRIBUTE_KEYS = ["score", "city", "vip", "since"]
EVENT_TYPES = [
    "product_viewed",
    "cart_updated",
    "order_placed",
    "page_viewed",
    "email_opened",
    "email_clicked",
    "email_replied",
    "signed_up",
]

numbers = st.sampled_from([0, 1, 2, 2.5, 5, 10, 49.5, 50, 100, 500, -1])
day_offsets = st.integers(min_value=-800, max_value=40)


def nearby_date(offset: int) -> dt.date:
    return NOW.date() + dt.timedelta(days=offset)


dates = day_offsets.map(nearby_date)
# Dates near 29 February and in the window of the next week, to meet the anniversary rules.
birthdays = st.one_of(
    st.none(),
    st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2026, 4, 30)),
    st.sampled_from([dt.date(2000, 2, 29), dt.date(1990, 3, 29), dt.date(1985, 4, 2)]),
    dates,
)
attribute_values = st.one_of(
    st.none(),
    numbers,
    st.sampled_from(TEXTS),
    st.booleans(),
    dates.map(dt.date.isoformat),
    st.sampled_from(["2000-02-29", "2019-03-30T10:00:00", "not a date", "1990-04-01"]),
)


@st.composite
def contacts(draw: Any, index: int) -> dict[str, Any]:
    return {
        "email": f"c{index}@example.com",
        "first_name": draw(st.sampled_from(["Ann", "ann", "Bob", "", "Annie", "Tea"])),
        "last_name": draw(st.sampled_from(["Lee", "", "Moss"])),
        "time_zone": draw(st.sampled_from(["", "Europe/London", "America/New_York"])),
        "locale": draw(st.sampled_from(["", "en-GB", "fr"])),
        "source": draw(st.sampled_from(["", "checkout", "import", "popup"])),
        "birthday": draw(birthdays),
        "customer_since": draw(st.one_of(st.none(), dates)),
        "created_at": NOW - dt.timedelta(minutes=draw(st.integers(0, 400 * 24 * 60))),
        "attributes": draw(
            st.dictionaries(st.sampled_from(ATTRIBUTE_KEYS), attribute_values, max_size=4)
        ),
        "consent_status": draw(st.sampled_from(["none", "pending", "subscribed", "unsubscribed"])),
        "suppressed": draw(st.sampled_from([None, None, "hard_bounce", "complaint"])),
    }


@st.composite
def events(draw: Any, contact_count: int) -> dict[str, Any]:
    event_type = draw(st.sampled_from(EVENT_TYPES))
    properties: dict[str, Any] = {}
    if draw(st.booleans()):
        properties["category"] = draw(st.sampled_from([*CATEGORIES, 5, None]))
    if event_type in ("order_placed", "cart_updated"):
        properties["items"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"product_id": st.sampled_from(["p1", "p2"])},
                    optional={
                        "category": st.sampled_from(CATEGORIES),
                        "price": numbers,
                    },
                ),
                max_size=3,
            )
        )
    value = draw(st.one_of(st.none(), numbers.filter(lambda n: n >= 0)))
    return {
        "contact": draw(st.integers(0, contact_count - 1)),
        "type": event_type,
        "occurred_at": NOW - dt.timedelta(minutes=draw(st.integers(-30, 400 * 24 * 60))),
        "value": value if event_type == "order_placed" else None,
        "properties": properties,
    }


@st.composite
def worlds(draw: Any) -> dict[str, Any]:
    count = draw(st.integers(min_value=1, max_value=7))
    people = [draw(contacts(index)) for index in range(count)]
    history = draw(st.lists(events(count), max_size=30))
    return {"contacts": people, "events": history}


# Rules ---------------------------------------------------------------------------------

windows = st.one_of(
    st.just({"type": "ever"}),
    st.builds(
        lambda amount, unit: {"type": "last", "amount": amount, "unit": unit},
        st.sampled_from([1, 2, 7, 24, 30, 90, 365]),
        st.sampled_from(["hours", "days", "weeks"]),
    ),
    st.builds(
        lambda start, length, unit: {
            "type": "between",
            "from": start,
            "to": start + length,
            "unit": unit,
        },
        st.sampled_from([0, 1, 14]),
        st.sampled_from([1, 7, 60]),
        st.sampled_from(["days", "weeks"]),
    ),
)


def comparisons(value_type: str) -> st.SearchStrategy[dict[str, Any]]:
    texts = st.sampled_from([t for t in TEXTS if t])
    if value_type == "text":
        return st.one_of(
            st.builds(
                lambda op, v: {"operator": op, "value": v},
                st.sampled_from(
                    ["equals", "not_equals", "contains", "not_contains", "starts_with"]
                ),
                texts,
            ),
            st.builds(
                lambda op, v: {"operator": op, "value": v},
                st.sampled_from(["in", "not_in"]),
                st.lists(texts, min_size=1, max_size=3),
            ),
            st.builds(lambda op: {"operator": op}, st.sampled_from(["is_set", "is_not_set"])),
        )
    if value_type == "number":
        return st.one_of(
            st.builds(
                lambda op, v: {"operator": op, "value": v},
                st.sampled_from(["equals", "not_equals", "gt", "gte", "lt", "lte"]),
                numbers,
            ),
            st.builds(
                lambda a, b: {"operator": "between", "value": sorted([a, b])}, numbers, numbers
            ),
            st.builds(lambda op: {"operator": op}, st.sampled_from(["is_set", "is_not_set"])),
        )
    if value_type == "date":
        iso = dates.map(dt.date.isoformat)
        return st.one_of(
            st.builds(
                lambda op, v: {"operator": op, "value": v},
                st.sampled_from(["equals", "not_equals", "gt", "lt"]),
                iso,
            ),
            st.builds(lambda a, b: {"operator": "between", "value": sorted([a, b])}, iso, iso),
            st.builds(
                lambda op, v: {"operator": op, "value": v},
                st.sampled_from(["within_last_days", "more_than_days_ago"]),
                st.sampled_from([0, 1, 7, 30, 365]),
            ),
            st.builds(lambda op: {"operator": op}, st.sampled_from(["is_set", "is_not_set"])),
        )
    return st.builds(
        lambda op: {"operator": op},
        st.sampled_from(["is_true", "is_false", "is_set", "is_not_set"]),
    )


value_types = st.sampled_from(["text", "number", "date", "bool"])


@st.composite
def property_filters(draw: Any) -> dict[str, Any]:
    value_type = draw(st.sampled_from(["text", "number"]))
    name = draw(st.sampled_from(["category", "items.category", "items.price", "price"]))
    return {"property": name, "type": value_type, **draw(comparisons(value_type))}


@st.composite
def field_conditions(draw: Any) -> dict[str, Any]:
    name = draw(
        st.sampled_from(
            [
                "first_name",
                "last_name",
                "time_zone",
                "locale",
                "source",
                "email",
                "birthday",
                "customer_since",
                "created_at",
            ]
        )
    )
    value_type = "date" if name in ("birthday", "customer_since", "created_at") else "text"
    return {"condition": "field", "field": name, **draw(comparisons(value_type))}


@st.composite
def attribute_conditions(draw: Any) -> dict[str, Any]:
    value_type = draw(value_types)
    return {
        "condition": "attribute",
        "attribute": draw(st.sampled_from(ATTRIBUTE_KEYS)),
        "type": value_type,
        **draw(comparisons(value_type)),
    }


@st.composite
def event_conditions(draw: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "condition": "event",
        "event_type": draw(st.sampled_from(EVENT_TYPES)),
        "window": draw(windows),
        "count_operator": draw(st.sampled_from(["at_least", "at_most", "exactly", "none"])),
    }
    if node["count_operator"] != "none":
        low = 1 if node["count_operator"] == "at_least" else 0
        node["count"] = draw(st.integers(low, 3))
    if draw(st.booleans()):
        node["filters"] = draw(st.lists(property_filters(), min_size=1, max_size=2))
    if draw(st.booleans()):
        node["without_event"] = draw(st.sampled_from(["order_placed", "cart_updated"]))
        if draw(st.booleans()):
            node["without_filters"] = [draw(property_filters())]
    return node


def leaf_conditions(segment_ids: list[int]) -> st.SearchStrategy[dict[str, Any]]:
    options = [
        field_conditions(),
        attribute_conditions(),
        event_conditions(),
        st.builds(
            lambda s: {"condition": "consent", "status": s},
            st.lists(
                st.sampled_from(["none", "pending", "subscribed", "unsubscribed"]),
                min_size=1,
                max_size=2,
                unique=True,
            ),
        ),
        st.builds(
            lambda s, r: {
                "condition": "suppressed",
                "suppressed": s,
                **({"reasons": r} if r else {}),
            },
            st.booleans(),
            st.one_of(
                st.none(),
                st.lists(
                    st.sampled_from(["hard_bounce", "complaint", "manual"]),
                    min_size=1,
                    max_size=2,
                    unique=True,
                ),
            ),
        ),
        st.builds(
            lambda f, key, days: {
                "condition": "anniversary",
                "field": f,
                "days": days,
                **({"attribute": key} if f == "attribute" else {}),
            },
            st.sampled_from(["birthday", "created_at", "customer_since", "attribute"]),
            st.sampled_from(ATTRIBUTE_KEYS),
            st.sampled_from([0, 1, 7, 30]),
        ),
        st.builds(
            lambda metric, comparison, window: {
                "condition": "money",
                "metric": metric,
                "window": window,
                **comparison,
            },
            st.sampled_from(["total_spend", "order_count", "average_order_value"]),
            st.one_of(
                st.builds(
                    lambda op, v: {"operator": op, "value": v},
                    st.sampled_from(["gt", "gte", "lt", "lte", "equals"]),
                    numbers,
                ),
                st.builds(
                    lambda a, b: {"operator": "between", "value": sorted([a, b])}, numbers, numbers
                ),
            ),
            windows,
        ),
        st.builds(
            lambda action, did, days: {
                "condition": "email_engagement",
                "action": action,
                "did": did,
                "days": days,
            },
            st.sampled_from(["opened", "clicked", "opened_or_clicked", "replied"]),
            st.booleans(),
            st.sampled_from([1, 7, 30, 90]),
        ),
        st.builds(
            lambda status, days: {"condition": "activity", "status": status, "days": days},
            st.sampled_from(["active", "dormant"]),
            st.sampled_from([1, 30, 90, 365]),
        ),
        st.builds(
            lambda stages: {"condition": "lifecycle", "stages": stages},
            st.lists(
                st.sampled_from(["prospect", "new", "active", "at_risk", "lapsed"]),
                min_size=1,
                max_size=3,
                unique=True,
            ),
        ),
    ]
    if segment_ids:
        options.append(
            st.builds(
                lambda s, member: {"condition": "segment", "segment": s, "member": member},
                st.sampled_from(segment_ids),
                st.booleans(),
            )
        )
    return st.one_of(*options)


def nodes(segment_ids: list[int], max_leaves: int = 6) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaf_conditions(segment_ids),
        lambda children: st.one_of(
            st.builds(lambda c: {"all": c}, st.lists(children, max_size=3)),
            st.builds(lambda c: {"any": c}, st.lists(children, max_size=3)),
            st.builds(lambda c: {"not": c}, children),
        ),
        max_leaves=max_leaves,
    )


def trees(segment_ids: list[int] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    return nodes(segment_ids or []).map(lambda rules: {"version": 1, "rules": rules})
