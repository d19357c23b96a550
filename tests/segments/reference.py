"""A plain-Python evaluator of rule trees: the specification the SQL compiler must meet.

It is written from docs/segments.md, not from the compiler: it shares no code with
``wagtail_oneonone.segments`` except the parameter cleaning (``clean_rules``), and reads
plain snapshots of the rows, never querysets.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from wagtail_oneonone.models import Contact, Event, Segment, Suppression
from wagtail_oneonone.segments import clean_rules

UNIT_SECONDS = {"hours": 3600, "days": 86400, "weeks": 604800}
DATE_PREFIX = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")
EMAIL_ACTIONS = {
    "opened": {"email_opened"},
    "clicked": {"email_clicked"},
    "opened_or_clicked": {"email_opened", "email_clicked"},
    "replied": {"email_replied"},
}


@dataclass
class World:
    """Everything rules can see, read once from the database."""

    now: dt.datetime
    tz: dt.tzinfo
    engagement_types: set[str]
    lifecycle: dict[str, int]
    contacts: list[Contact]
    events: dict[int, list[Event]] = field(default_factory=dict)
    suppressions: dict[str, str] = field(default_factory=dict)
    segments: dict[int, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        now: dt.datetime,
        tz: dt.tzinfo,
        engagement_types: set[str],
        lifecycle: dict[str, int],
    ) -> World:
        world = cls(now, tz, engagement_types, lifecycle, list(Contact.objects.order_by("pk")))
        for event in Event.objects.exclude(contact_id=None):
            world.events.setdefault(event.contact_id, []).append(event)
        world.suppressions = dict(Suppression.objects.values_list("email_hash", "reason"))
        world.segments = dict(Segment.objects.values_list("pk", "rules"))
        return world

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    def members(self, tree: Any) -> set[int]:
        rules = clean_rules(tree)["rules"]
        return {contact.pk for contact in self.contacts if self.matches(rules, contact, ())}

    # Groups ------------------------------------------------------------------------------

    def matches(self, node: Mapping[str, Any], contact: Contact, chain: tuple[int, ...]) -> bool:
        if "all" in node:
            return all(self.matches(child, contact, chain) for child in node["all"])
        if "any" in node:
            return any(self.matches(child, contact, chain) for child in node["any"])
        if "not" in node:
            return not self.matches(node["not"], contact, chain)
        method = getattr(self, f"condition_{node['condition']}")
        return bool(method(node, contact, chain))

    # Profile -----------------------------------------------------------------------------

    def condition_field(self, node: Mapping[str, Any], contact: Contact, chain: Any) -> bool:
        name, operator, value = node["field"], node["operator"], node.get("value")
        if name in ("birthday", "customer_since", "created_at"):
            day = getattr(contact, name)
            if isinstance(day, dt.datetime):
                day = day.astimezone(self.tz).date()
            return compare_date(day.isoformat() if day else None, operator, value, self.today)
        return compare_text(getattr(contact, name) or None, operator, value)

    def condition_attribute(self, node: Mapping[str, Any], contact: Contact, chain: Any) -> bool:
        attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
        present = node["attribute"] in attributes
        return compare_json(present, attributes.get(node["attribute"]), node, self.today)

    def condition_consent(self, node: Mapping[str, Any], contact: Contact, chain: Any) -> bool:
        return contact.consent_status in node["status"]

    def condition_suppressed(self, node: Mapping[str, Any], contact: Contact, chain: Any) -> bool:
        reason = self.suppressions.get(contact.email_hash)
        listed = reason is not None and (not node.get("reasons") or reason in node["reasons"])
        return listed == node["suppressed"]

    def condition_anniversary(self, node: Mapping[str, Any], contact: Contact, chain: Any) -> bool:
        if node["field"] == "attribute":
            attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
            raw = attributes.get(node["attribute"])
            if not isinstance(raw, str) or not DATE_PREFIX.match(raw):
                return False
            text = raw[:10]
            if not text < self.today.isoformat():
                return False
            month, day = int(text[5:7]), int(text[8:10])
        else:
            value = getattr(contact, node["field"])
            if value is None:
                return False
            if isinstance(value, dt.datetime):
                value = value.astimezone(self.tz).date()
            if not value < self.today:
                return False
            month, day = value.month, value.day
        for offset in range(node["days"] + 1):
            date = self.today + dt.timedelta(days=offset)
            if (month, day) == (date.month, date.day):
                return True
            leap_day = (month, day) == (2, 29) and (date.month, date.day) == (2, 28)
            if leap_day and not calendar.isleap(date.year):
                return True
        return False

    # Behaviour ---------------------------------------------------------------------------

    def in_window(self, event: Event, window: Mapping[str, Any] | None) -> bool:
        if not window or window["type"] == "ever":
            return True
        unit = dt.timedelta(seconds=UNIT_SECONDS[window["unit"]])
        if window["type"] == "last":
            return event.occurred_at >= self.now - window["amount"] * unit
        return (
            self.now - window["to"] * unit <= event.occurred_at <= self.now - window["from"] * unit
        )

    def events_of(
        self,
        contact: Contact,
        types: set[str],
        window: Mapping[str, Any] | None = None,
        filters: Any = (),
    ) -> list[Event]:
        return [
            event
            for event in self.events.get(contact.pk, [])
            if event.type in types
            and self.in_window(event, window)
            and all(property_matches(event.properties, rule, self.today) for rule in filters or ())
        ]

    def condition_event(self, node: Mapping[str, Any], contact: Contact, chain: Any) -> bool:
        events = self.events_of(contact, {node["event_type"]}, node["window"], node.get("filters"))
        if node.get("without_event"):
            later = self.events_of(
                contact, {node["without_event"]}, None, node.get("without_filters")
            )
            events = [e for e in events if not any(w.occurred_at > e.occurred_at for w in later)]
        n, count = len(events), node.get("count", 0)
        return {
            "at_least": n >= count,
            "at_most": n <= count,
            "exactly": n == count,
            "none": n == 0,
        }[node["count_operator"]]

    def condition_money(self, node: Mapping[str, Any], contact: Contact, chain: Any) -> bool:
        orders = self.events_of(contact, {"order_placed"}, node["window"])
        values = [Decimal(str(o.value)) for o in orders if o.value is not None]
        metric: Decimal | None
        if node["metric"] == "total_spend":
            metric = sum(values, Decimal(0))
        elif node["metric"] == "order_count":
            metric = Decimal(len(orders))
        else:
            metric = sum(values, Decimal(0)) / len(values) if values else None
        if metric is None:
            return False
        bounds = node["value"] if isinstance(node["value"], list) else [node["value"]]
        low, high = Decimal(str(bounds[0])), Decimal(str(bounds[-1]))
        return {
            "gt": metric > low,
            "gte": metric >= low,
            "lt": metric < low,
            "lte": metric <= low,
            "equals": metric == low,
            "between": low <= metric <= high,
        }[node["operator"]]

    def condition_email_engagement(
        self, node: Mapping[str, Any], contact: Contact, chain: Any
    ) -> bool:
        window = {"type": "last", "amount": node["days"], "unit": "days"}
        did = bool(self.events_of(contact, EMAIL_ACTIONS[node["action"]], window))
        return did == node["did"]

    def condition_activity(self, node: Mapping[str, Any], contact: Contact, chain: Any) -> bool:
        window = {"type": "last", "amount": node["days"], "unit": "days"}
        engaged = bool(self.events_of(contact, self.engagement_types, window))
        if node["status"] == "active":
            return engaged
        return not engaged and contact.created_at < self.now - dt.timedelta(days=node["days"])

    def condition_lifecycle(self, node: Mapping[str, Any], contact: Contact, chain: Any) -> bool:
        orders = self.events_of(contact, {"order_placed"})
        return self.stage(orders) in node["stages"]

    def stage(self, orders: list[Event]) -> str:
        if not orders:
            return "prospect"
        limits = self.lifecycle
        first = min(o.occurred_at for o in orders)
        last = max(o.occurred_at for o in orders)
        ago = {key: self.now - dt.timedelta(days=limits[key]) for key in limits if "days" in key}
        if first >= ago["new_days"] and len(orders) < limits["repeat_orders"]:
            return "new"
        if last >= ago["active_days"]:
            return "active"
        if last >= ago["lapsed_days"]:
            return "at_risk"
        return "lapsed"

    def condition_segment(self, node: Mapping[str, Any], contact: Contact, chain: Any) -> bool:
        segment_id = node["segment"]
        assert segment_id not in chain, "the generator made a cycle"
        rules = clean_rules(self.segments[segment_id])["rules"]
        return self.matches(rules, contact, (*chain, segment_id)) == node["member"]


# Comparisons ---------------------------------------------------------------------------

NEGATIONS = {"not_equals": "equals", "not_contains": "contains", "not_in": "in"}


def compare_text(value: str | None, operator: str, operand: Any) -> bool:
    """A text column ('' means unset) compared ignoring case."""
    if operator in ("is_set", "is_not_set"):
        return bool(value) == (operator == "is_set")
    if operator in NEGATIONS:
        return not compare_text(value, NEGATIONS[operator], operand)
    if value is None:
        return False
    text = value.lower()
    if operator == "equals":
        return text == operand.lower()
    if operator == "contains":
        return operand.lower() in text
    if operator == "starts_with":
        return text.startswith(operand.lower())
    return text in {item.lower() for item in operand}


def compare_date(day: str | None, operator: str, operand: Any, today: dt.date) -> bool:
    """An ISO date (or None) compared by day."""
    if operator in ("is_set", "is_not_set"):
        return (day is not None) == (operator == "is_set")
    if operator == "not_equals":
        return not compare_date(day, "equals", operand, today)
    if day is None:
        return False
    if operator == "equals":
        return day == operand
    if operator == "gt":
        return day > operand
    if operator == "lt":
        return day < operand
    if operator == "between":
        return operand[0] <= day <= operand[1]
    if operator == "within_last_days":
        return (today - dt.timedelta(days=operand)).isoformat() <= day <= today.isoformat()
    assert operator == "more_than_days_ago"
    return day < (today - dt.timedelta(days=operand)).isoformat()


def compare_json(present: bool, value: Any, rule: Mapping[str, Any], today: dt.date) -> bool:
    """A JSON value compared as the rule's type; a value of another type never matches."""
    operator, kind = rule["operator"], rule["type"]
    if operator in ("is_set", "is_not_set"):
        is_set = present and value is not None and value != ""
        return is_set == (operator == "is_set")
    if operator in NEGATIONS:
        return not compare_json(present, value, {**rule, "operator": NEGATIONS[operator]}, today)
    if kind == "bool":
        return value is (operator == "is_true")
    if kind == "text":
        return isinstance(value, str) and compare_text(value, operator, rule.get("value"))
    if kind == "date":
        if not isinstance(value, str) or not DATE_PREFIX.match(value):
            return False
        return compare_date(value[:10], operator, rule.get("value"), today)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    number = Decimal(str(value))
    operand = rule["value"]
    bounds = [Decimal(str(v)) for v in (operand if isinstance(operand, list) else [operand])]
    return {
        "equals": number == bounds[0],
        "gt": number > bounds[0],
        "gte": number >= bounds[0],
        "lt": number < bounds[0],
        "lte": number <= bounds[0],
        "between": bounds[0] <= number <= bounds[-1],
    }[operator]


def property_matches(properties: Any, rule: Mapping[str, Any], today: dt.date) -> bool:
    """An event property filter; ``items.<name>`` holds when any line of the order does."""
    properties = properties if isinstance(properties, dict) else {}
    name = rule["property"]
    if not name.startswith("items."):
        return compare_json(name in properties, properties.get(name), rule, today)
    key = name[len("items.") :]
    operator = rule["operator"]
    positive = {
        **rule,
        "operator": NEGATIONS.get(operator, "is_set" if operator == "is_not_set" else operator),
    }
    items = properties.get("items")
    lines = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    found = any(compare_json(key in line, line.get(key), positive, today) for line in lines)
    negated = operator in NEGATIONS or operator == "is_not_set"
    return not found if negated else found
