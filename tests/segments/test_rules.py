"""Rule trees: what is refused (with the path to the bad part) and what examples mean."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db.models import Q

from wagtail_oneonone.exceptions import SegmentRuleError
from wagtail_oneonone.models import Contact, Event, Segment, SegmentCount
from wagtail_oneonone.segments import (
    Param,
    check_segment_rules,
    clean_rules,
    contacts_matching,
    is_member,
    members_among,
    register_condition,
)
from wagtail_oneonone.segments.conditions import unregister_condition
from wagtail_oneonone.segments.membership import record_all_counts
from wagtail_oneonone.segments.schema import conditions_schema

NOW = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)


def tree(rules: Any) -> dict[str, Any]:
    return {"version": 1, "rules": rules}


def refused(rules: Any, *, wrap: bool = True) -> SegmentRuleError:
    with pytest.raises(SegmentRuleError) as caught:
        clean_rules(tree(rules) if wrap else rules)
    return caught.value


# Refusals ------------------------------------------------------------------------------


def test_a_tree_needs_the_schema_version() -> None:
    error = refused({"rules": {"all": []}}, wrap=False)
    assert error.field == "version"
    assert "schema version" in error.message


def test_an_unknown_condition_names_the_known_ones() -> None:
    error = refused({"all": [{"condition": "bought_twice"}]})
    assert error.field == "rules.all[0].condition"
    assert "unknown condition 'bought_twice'" in error.message
    assert "event" in error.message


def test_errors_name_the_path_to_the_bad_part() -> None:
    error = refused(
        {
            "any": [
                {"condition": "consent", "status": ["subscribed"]},
                {
                    "not": {
                        "condition": "event",
                        "event_type": "order_placed",
                        "window": {"type": "last", "amount": 0},
                    }
                },
            ]
        }
    )
    assert error.field == "rules.any[1].not.window.amount"
    assert error.message == "must be at least 1"


@pytest.mark.parametrize(
    ("rules", "field", "message"),
    [
        ({"condition": "event"}, "rules.event_type", "is required"),
        ({"condition": "event", "event_type": "nope"}, "rules.event_type", "unknown event type"),
        (
            {"condition": "event", "event_type": "order_placed", "colour": "red"},
            "rules.colour",
            "has no parameter",
        ),
        (
            {"condition": "attribute", "attribute": "1x", "operator": "is_set"},
            "rules.attribute",
            "attribute names",
        ),
        (
            {
                "condition": "attribute",
                "attribute": "tier",
                "type": "number",
                "operator": "contains",
                "value": 3,
            },
            "rules.operator",
            "not an operator for number",
        ),
        (
            {"condition": "attribute", "attribute": "tier", "operator": "equals"},
            "rules.value",
            "is required",
        ),
        (
            {
                "condition": "field",
                "field": "birthday",
                "operator": "between",
                "value": ["2020-02-01", "2020-01-01"],
            },
            "rules.value",
            "must not exceed",
        ),
        (
            {"condition": "field", "field": "birthday", "operator": "gt", "value": "soon"},
            "rules.value",
            "YYYY-MM-DD",
        ),
        (
            {"condition": "money", "operator": "gt", "value": "lots"},
            "rules.value",
            "expected a number",
        ),
        (
            {
                "condition": "event",
                "event_type": "order_placed",
                "window": {"type": "between", "from": 21, "to": 14},
            },
            "rules.window.to",
            "more than 'from'",
        ),
        (
            {
                "condition": "event",
                "event_type": "order_placed",
                "window": {"type": "last", "amount": 20, "unit": "years"},
            },
            "rules.window.unit",
            "expected one of",
        ),
        (
            {
                "condition": "event",
                "event_type": "product_viewed",
                "filters": [{"property": "items.", "operator": "equals", "value": "x"}],
            },
            "rules.filters[0].property",
            "expected a property name",
        ),
        ({"all": [{"any": []}], "any": []}, "rules", "expected"),
        ({"not": [{"condition": "consent", "status": ["subscribed"]}]}, "rules.not", "expected"),
        ({"condition": "lifecycle", "stages": ["gold"]}, "rules.stages[0]", "not one of"),
    ],
)
def test_malformed_rules_are_refused_clearly(rules: Any, field: str, message: str) -> None:
    error = refused(rules)
    assert error.field == field
    assert message in error.message


def test_depth_and_size_are_bounded() -> None:
    node: dict[str, Any] = {"condition": "consent", "status": ["subscribed"]}
    for _ in range(12):
        node = {"not": node}
    assert "nested more than" in refused(node).message
    many = [{"condition": "consent", "status": ["subscribed"]}] * 201
    assert "at most 200 conditions" in refused({"all": many}).message


@pytest.mark.django_db
def test_cycles_and_missing_segments_are_refused() -> None:
    first = Segment.objects.create(name="A", slug="a")
    second = Segment.objects.create(
        name="B", slug="b", rules=tree({"condition": "segment", "segment": first.pk})
    )
    with pytest.raises(SegmentRuleError, match="cycle"):
        check_segment_rules(tree({"condition": "segment", "segment": second.pk}), first.pk)
    with pytest.raises(SegmentRuleError, match="cycle"):
        check_segment_rules(tree({"condition": "segment", "segment": first.pk}), first.pk)
    with pytest.raises(SegmentRuleError, match="does not exist"):
        check_segment_rules(tree({"condition": "segment", "segment": 999_999}))
    # A stored cycle (made behind the admin's back) fails when used, not forever.
    Segment.objects.filter(pk=first.pk).update(
        rules=tree({"condition": "segment", "segment": second.pk})
    )
    first.refresh_from_db()
    with pytest.raises(SegmentRuleError, match="cycle"):
        list(first.contacts())


# Meaning -------------------------------------------------------------------------------


@pytest.fixture
def shop(db: None) -> dict[str, Contact]:
    """Four shoppers with the histories the issue's examples talk about."""

    def contact(name: str, **fields: Any) -> Contact:
        return Contact.objects.create(email=f"{name}@example.com", first_name=name, **fields)

    people = {
        "abandoner": contact("abandoner"),
        "buyer": contact("buyer", attributes={"vip": True}),
        "browser": contact("browser", birthday=dt.date(1990, 6, 14)),
        "lapsed": contact("lapsed"),
    }

    def event(who: str, kind: str, hours_ago: float, value: Any = None, **properties: Any) -> None:
        Event.objects.create(
            contact=people[who],
            type=kind,
            occurred_at=NOW - dt.timedelta(hours=hours_ago),
            value=value,
            properties=properties,
        )

    event("abandoner", "cart_updated", 3, items=[{"product_id": "p1", "quantity": 1}])
    event("buyer", "cart_updated", 5, items=[{"product_id": "p2", "quantity": 1}])
    event("buyer", "order_placed", 4, value=620, items=[{"product_id": "p2", "category": "tea"}])
    event("browser", "product_viewed", 30, category="tea", product_id="p3")
    event("browser", "product_viewed", 50, category="tea", product_id="p4")
    event("lapsed", "order_placed", 24 * 200, value=40, items=[{"category": "cups"}])
    event("lapsed", "email_opened", 24 * 120)
    Contact.objects.update(created_at=NOW - dt.timedelta(days=365))
    return people


def names(rules: Any) -> set[str]:
    return {c.first_name for c in contacts_matching(tree(rules), now=NOW)}


def test_cart_abandoners_in_the_last_day_without_an_order(shop: dict[str, Contact]) -> None:
    rules = {
        "condition": "event",
        "event_type": "cart_updated",
        "window": {"type": "last", "amount": 24, "unit": "hours"},
        "without_event": "order_placed",
    }
    assert names(rules) == {"abandoner"}


def test_viewed_a_category_twice_this_week_and_never_bought_from_it(
    shop: dict[str, Contact],
) -> None:
    tea = [{"property": "category", "operator": "equals", "value": "TEA"}]
    rules = {
        "all": [
            {
                "condition": "event",
                "event_type": "product_viewed",
                "filters": tea,
                "count": 2,
                "window": {"type": "last", "amount": 7, "unit": "days"},
            },
            {
                "condition": "event",
                "event_type": "order_placed",
                "count_operator": "none",
                "filters": [{"property": "items.category", "operator": "equals", "value": "tea"}],
            },
        ]
    }
    assert names(rules) == {"browser"}


def test_spend_lifecycle_dormancy_and_birthdays(shop: dict[str, Contact]) -> None:
    assert names({"condition": "money", "operator": "gt", "value": 500}) == {"buyer"}
    # No orders is spending nothing: "under £50" includes those who never bought.
    assert names({"condition": "money", "operator": "lt", "value": 50}) == {
        "abandoner",
        "browser",
        "lapsed",
    }
    assert names({"condition": "lifecycle", "stages": ["lapsed"]}) == {"lapsed"}
    assert names({"condition": "lifecycle", "stages": ["new"]}) == {"buyer"}
    assert names({"condition": "activity", "status": "dormant", "days": 90}) == {"lapsed"}
    assert names({"condition": "anniversary", "field": "birthday", "days": 7}) == {"browser"}
    assert names({"condition": "anniversary", "field": "birthday", "days": 3}) == set()
    assert names(
        {"condition": "attribute", "attribute": "vip", "type": "bool", "operator": "is_true"}
    ) == {"buyer"}


def test_membership_api_and_counts_over_time(shop: dict[str, Contact]) -> None:
    spenders = Segment.objects.create(
        name="Spenders",
        slug="spenders",
        rules=tree({"condition": "money", "operator": "gte", "value": 40}),
    )
    assert is_member(shop["buyer"], "spenders", now=NOW)
    assert not is_member(shop["abandoner"].pk, spenders, now=NOW)
    assert members_among(spenders, [c.pk for c in shop.values()], now=NOW) == {
        shop["buyer"].pk,
        shop["lapsed"].pk,
    }
    assert record_all_counts(now=NOW) == 1
    assert list(SegmentCount.objects.values_list("count", flat=True)) == [2]


def test_hosts_register_conditions_with_a_decorator(shop: dict[str, Contact]) -> None:
    @register_condition(
        "first_name_is",
        label="First name is exactly",
        params=[Param("name", "text")],
        group="Host",
    )
    def first_name_is(params: dict[str, Any], context: Any) -> Q:
        return Q(first_name=params["name"])

    try:
        assert names({"condition": "first_name_is", "name": "buyer"}) == {"buyer"}
        schema = conditions_schema()
        described = next(c for c in schema["conditions"] if c["name"] == "first_name_is")
        assert described["group"] == "Host"
        assert described["params"][0]["kind"] == "text"
        with pytest.raises(ValueError, match="already registered"):
            register_condition("first_name_is", label="again")(first_name_is)
    finally:
        unregister_condition("first_name_is")


@pytest.mark.django_db
def test_segments_are_counted_daily_by_a_schedule() -> None:
    from django_q.models import Schedule

    from wagtail_oneonone import tasks

    tasks.ensure_schedules()
    tasks.ensure_schedules()
    schedule = Schedule.objects.get(name=tasks.COUNT_SEGMENTS_SCHEDULE)
    assert (schedule.func, schedule.schedule_type) == (tasks.COUNT_SEGMENTS_TASK, Schedule.DAILY)
    Segment.objects.create(name="Everyone", slug="everyone")
    Contact.objects.create(email="one@example.com")
    assert tasks.count_segments() == 1
    assert SegmentCount.objects.get().count == 1
