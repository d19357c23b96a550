"""The compiled SQL agrees with the reference evaluator on generated histories and rules.

Runs on whichever database the suite uses: SQLite under ``make test``, PostgreSQL under
``make test-postgres`` (and in CI).
"""

from __future__ import annotations

import os
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wagtail_oneonone.conf import app_settings
from wagtail_oneonone.models import Contact, Event, Segment, SegmentCount, Suppression
from wagtail_oneonone.segments import contacts_matching
from wagtail_oneonone.segments.builtins import lifecycle_settings
from wagtail_oneonone.validation import email_hash

from .reference import World
from .strategies import NOW, leaf_conditions, nodes, trees, worlds

pytestmark = pytest.mark.django_db
BASE_SEGMENT, INNER_SEGMENT = 901, 902
#: ONEONONE_HYPOTHESIS_EXAMPLES=2000 for a long, randomised hunt; CI runs a fixed set.
MANY = int(os.environ.get("ONEONONE_HYPOTHESIS_EXAMPLES", "0"))
EXAMPLES = settings(
    max_examples=MANY or 80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not MANY,
)


def build_world(data: dict[str, Any], segments: dict[int, Any]) -> World:
    Event.objects.all().delete()
    SegmentCount.objects.all().delete()
    Segment.objects.all().delete()
    Contact.objects.all().delete()
    Suppression.objects.all().delete()
    created = []
    for person in data["contacts"]:
        person = dict(person)
        suppressed = person.pop("suppressed")
        created_at = person.pop("created_at")
        contact = Contact.objects.create(**person)
        Contact.objects.filter(pk=contact.pk).update(created_at=created_at)
        if suppressed:
            Suppression.objects.create(email_hash=email_hash(contact.email), reason=suppressed)
        created.append(contact)
    Event.objects.bulk_create(
        Event(
            contact=created[event["contact"]],
            type=event["type"],
            occurred_at=event["occurred_at"],
            value=event["value"],
            properties=event["properties"],
        )
        for event in data["events"]
    )
    for pk, rules in segments.items():
        Segment.objects.create(pk=pk, name=f"s{pk}", slug=f"s{pk}", rules=rules)
    return World.load(
        NOW,
        ZoneInfo(app_settings.default_time_zone),
        set(app_settings.ENGAGEMENT_EVENT_TYPES),
        lifecycle_settings(),
    )


def agree(world: World, tree: dict[str, Any]) -> None:
    compiled = set(contacts_matching(tree, now=NOW).values_list("pk", flat=True))
    expected = world.members(tree)
    assert compiled == expected, {
        "tree": tree,
        "only in SQL": sorted(compiled - expected),
        "only in reference": sorted(expected - compiled),
    }


@EXAMPLES
@given(
    data=worlds(),
    base=trees(),
    inner=nodes([BASE_SEGMENT], max_leaves=3),
    tree=trees([BASE_SEGMENT, INNER_SEGMENT]),
)
def test_compiled_rules_match_the_reference(
    data: dict[str, Any], base: dict[str, Any], inner: dict[str, Any], tree: dict[str, Any]
) -> None:
    segments = {BASE_SEGMENT: base, INNER_SEGMENT: {"version": 1, "rules": inner}}
    world = build_world(data, segments)
    agree(world, tree)


@settings(
    max_examples=MANY or 50,
    deadline=None,
    derandomize=not MANY,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=worlds(), conditions=st.lists(leaf_conditions([]), min_size=1, max_size=8))
def test_every_single_condition_and_its_negation(
    data: dict[str, Any], conditions: list[dict[str, Any]]
) -> None:
    """Single conditions, each alone and negated: where a disagreement is easiest to read."""
    world = build_world(data, {})
    for condition in conditions:
        agree(world, {"version": 1, "rules": condition})
        agree(world, {"version": 1, "rules": {"not": condition}})
