"""Matching and advancing a batch at once (benchmarks/flows.py): the same outcomes as one
at a time, one broken enrollment stopping none of the others, no email queued twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.flows.conftest import hours, make_flow, send, step, subscribed, text, wait
from wagtail_oneonone.api import track
from wagtail_oneonone.flows import services
from wagtail_oneonone.flows.bulk import Among
from wagtail_oneonone.flows.services import advance_due
from wagtail_oneonone.flows.triggers import _pk_among, match_new_events
from wagtail_oneonone.models import (
    Contact,
    Enrollment,
    EnrollmentLog,
    EnrollmentStatus,
    Event,
    OutboxMessage,
    Reentry,
)

pytestmark = pytest.mark.django_db


def tag(step_id: str, name: str) -> dict[str, Any]:
    return step("update_contact", step_id, {"action": "add_tag", "name": name, "value": ""})


def sign_up(contact: Contact, at: dt.datetime) -> None:
    track("signed_up", contact=contact, occurred_at=at)


def test_one_enrollment_failing_in_a_batch_stops_none_of_the_others(
    email_layout: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_flow(
        "Welcome",
        [send("hello", "Hello", text("<p>Hi</p>")), tag("t", "welcomed"), wait("w", 1)],
        trigger_event_type="signed_up",
    )
    start = timezone.now() - hours(10)
    people = [subscribed(f"p{n}@example.com") for n in range(3)]
    for contact in people:
        sign_up(contact, start)
    broken = people[1]
    update = services.update_contact

    def failing(contact: Contact, value: dict[str, Any]) -> str:
        if contact.pk == broken.pk:
            raise RuntimeError("the attribute store is down")
        return update(contact, value)

    monkeypatch.setattr(services, "update_contact", failing)
    match_new_events(now=start)
    result = advance_due(now=start)
    assert (result.advanced, result.sent) == (2, 2)
    assert len(result.errors) == 1 and "the attribute store is down" in result.errors[0]
    failed = Enrollment.objects.get(contact=broken)
    # Nothing of it was written: not its email, not its log, not its position; and its
    # lease is given up, so the next run takes it again.
    assert (failed.step_id, failed.lease_until) == ("", None)
    assert not OutboxMessage.objects.filter(contact=broken).exists()
    assert not EnrollmentLog.objects.filter(enrollment=failed).exists()
    for contact in (people[0], people[2]):
        enrollment = Enrollment.objects.get(contact=contact)
        assert (enrollment.step_id, enrollment.waiting) == ("w", True)
        assert enrollment.next_run_at == start + hours(1)
        assert enrollment.lease_until is None
        actions = list(enrollment.log.values_list("action", "step_id"))
        assert actions == [
            ("entered", ""),
            ("step", "hello"),
            ("step", "t"),
            ("step", "w"),
            ("sent", "hello"),
            ("updated", "t"),
        ]
        [message] = OutboxMessage.objects.filter(contact=contact)
        assert enrollment.log.get(action="sent").message == message
        assert message.context == {"enrollment": enrollment.pk}
        assert message.trigger_event_id == enrollment.trigger_event_id
    monkeypatch.setattr(services, "update_contact", update)
    assert advance_due(now=start).advanced == 1  # the broken one, on the next run
    assert OutboxMessage.objects.count() == 3


def test_updates_of_one_contact_in_one_batch_add_up(email_layout: Any) -> None:
    make_flow("Tag a", [tag("a", "a")], trigger_event_type="signed_up")
    make_flow("Tag b", [tag("b", "b")], trigger_event_type="signed_up")
    contact = subscribed("tags@example.com", attributes={"tags": ["old"]})
    start = timezone.now() - hours(1)
    sign_up(contact, start)
    match_new_events(now=start)
    assert advance_due(now=start).advanced == 2
    contact.refresh_from_db()
    assert sorted(contact.attributes["tags"]) == ["a", "b", "old"]


def test_running_a_step_again_queues_no_second_email(email_layout: Any) -> None:
    make_flow(
        "Two emails",
        [send("one", "One", text("<p>1</p>")), wait("w", 2), send("two", "Two", text("<p>2</p>"))],
        trigger_event_type="signed_up",
    )
    contact = subscribed("again@example.com")
    start = timezone.now() - hours(10)
    sign_up(contact, start)
    match_new_events(now=start)
    assert advance_due(now=start + hours(3)).sent == 2
    [enrollment] = Enrollment.objects.all()
    assert enrollment.status == EnrollmentStatus.COMPLETED
    # As if the worker had died after queueing and before saving where it stood.
    Enrollment.objects.update(
        status=EnrollmentStatus.ACTIVE, step_id="", next_run_at=start, finished_at=None
    )
    result = advance_due(now=start + hours(3))
    assert (result.advanced, result.sent) == (1, 0)
    assert OutboxMessage.objects.count() == 2
    # The second run's log lines name the messages the first one queued.
    sent = EnrollmentLog.objects.filter(action="sent").order_by("id")
    first_run, second_run = sent[:2], sent[2:]
    assert [line.message_id for line in second_run] == [line.message_id for line in first_run]


def test_the_nth_event_is_found_among_events_read_at_once(email_layout: Any) -> None:
    flow = make_flow(
        "Browse abandonment",
        [wait("w", 4), send("s", "Still looking?", text("<p>Hi</p>"))],
        trigger_event_type="product_viewed",
        trigger_count=2,
        trigger_window_hours=24,
        reentry=Reentry.EVERY_N_DAYS,
        reentry_days=7,
    )
    contact = subscribed("views@example.com")
    start = timezone.now() - hours(300)
    # The 2nd within 24 hours at 31 (not at 30: 30 hours after the 1st); at 32 already in;
    # again at 225, more than 7 days after entering.
    for offset in (0, 30, 31, 32, 224, 225):
        track(
            "product_viewed",
            contact=contact,
            occurred_at=start + hours(offset),
            properties={"product_id": "scarf"},
        )
    views = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    assert match_new_events(now=timezone.now()).enrolled == 2  # one batch
    entered = list(
        Enrollment.objects.filter(flow=flow)
        .order_by("entered_at")
        .values_list("trigger_event_id", flat=True)
    )
    assert entered == [views[2], views[5]]


def test_ids_close_together_are_read_as_a_range_and_the_rest_as_a_list(
    email_layout: Any,
) -> None:
    contact = subscribed("log@example.com")
    at = timezone.now()
    Event.objects.bulk_create(
        Event(contact=contact, type="page_viewed", occurred_at=at, properties={})
        for _ in range(400)
    )
    ids = sorted(Event.objects.values_list("pk", flat=True))
    far = ids[-1] - 10_000  # an id looked for again, long before the batch (not there)
    for wanted in (ids[:5], ids[::2], [ids[0], *ids[150:]], ids[-250:], [far, *ids[-250:]], []):
        found = set(Event.objects.filter(_pk_among(wanted)).values_list("pk", flat=True))
        assert set(wanted) & set(ids) <= found  # the caller keeps its own ids of what comes back
        if wanted:
            assert all(min(wanted) <= pk <= max(wanted) for pk in found)
        listed = set(Event.objects.filter(Among("pk", wanted)).values_list("pk", flat=True))
        assert listed == set(wanted) & set(ids)
