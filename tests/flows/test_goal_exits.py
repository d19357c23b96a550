"""A flow's goal ends an enrollment as soon as the matcher reads the goal event, not when
its next step comes due: once, as advancing would end it, leaving leased ones alone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.flows.conftest import abandon_cart, cart_flow, hours, run, subscribed
from wagtail_oneonone.api import track
from wagtail_oneonone.flows.content import GOAL_REACHED
from wagtail_oneonone.flows.services import advance_due, pause_flow
from wagtail_oneonone.flows.triggers import match_new_events
from wagtail_oneonone.models import (
    Enrollment,
    EnrollmentLog,
    EnrollmentStatus,
    FlowCursor,
    OutboxMessage,
    OutboxStatus,
)
from wagtail_oneonone.sending.dispatch import dispatch_due

pytestmark = pytest.mark.django_db

ITEMS = [{"product_id": "scarf", "name": "Wool scarf", "quantity": 1, "price": 25}]
MINUTE = dt.timedelta(minutes=1)


def order(email: str, at: dt.datetime, total: int = 25) -> None:
    properties = {"order_id": f"{email}-{at:%H%M}", "items": ITEMS, "total": total}
    track("order_placed", email=email, occurred_at=at, value=total, properties=properties)


def log_of(enrollment: Enrollment) -> list[tuple[str, str, str]]:
    return list(enrollment.log.order_by("id").values_list("action", "step_id", "detail"))


def ended_as(enrollment: Enrollment) -> tuple[Any, ...]:
    enrollment.refresh_from_db()
    return (
        enrollment.status,
        enrollment.step_id,
        enrollment.waiting,
        enrollment.next_run_at,
        enrollment.exit_reason,
        enrollment.finished_at,
        enrollment.lease_until,
    )


def test_a_shopper_who_buys_while_waiting_leaves_the_flow_at_the_next_match_run(
    email_layout: Any, sending_settings: Any, anymail_backend: Any
) -> None:
    cart_flow()
    subscribed("sam@example.com", first_name="Sam")
    start = timezone.now() - hours(200)  # the clock is injected; events are in the past
    abandon_cart("sam@example.com", start, ITEMS)
    run(start + MINUTE)
    run(start + hours(2))  # the reminder; now waiting 22 hours for the incentive
    assert len(anymail_backend.outbox) == 1
    enrollment = Enrollment.objects.get()
    assert (enrollment.step_id, enrollment.waiting) == ("w24h", True)

    order("sam@example.com", start + hours(3))
    matched = match_new_events(now=start + hours(3) + MINUTE)
    assert (matched.events, matched.enrolled, matched.reached_goal) == (1, 0, 1)
    # Where the goal found them, as advancing ends one whose goal it finds when due.
    assert ended_as(enrollment) == (
        EnrollmentStatus.GOAL,
        "w24h",
        False,
        None,
        "reached the goal",
        start + hours(3) + MINUTE,
        None,
    )
    assert log_of(enrollment)[-1] == ("goal", "w24h", "reached the goal")
    assert enrollment.log.get(action="goal").at == start + hours(3) + MINUTE
    lines = log_of(enrollment)

    run(start + hours(24))  # the wait's time passes: nothing comes due, nothing is queued
    run(start + hours(100))
    assert len(anymail_backend.outbox) == 1
    assert OutboxMessage.objects.count() == 1
    assert log_of(enrollment) == lines  # not ended (nor logged) a second time


def test_an_order_of_someone_else_or_from_before_entering_ends_nothing(
    email_layout: Any,
) -> None:
    cart_flow()
    for email in ("sam@example.com", "ana@example.com", "bo@example.com"):
        subscribed(email)
    start = timezone.now() - hours(200)
    order("ana@example.com", start - hours(1))  # before her cart, read in the same batch
    abandon_cart("sam@example.com", start, ITEMS)
    abandon_cart("ana@example.com", start, ITEMS)
    assert match_new_events(now=start + MINUTE).enrolled == 2
    order("bo@example.com", start + hours(1))  # not in the flow
    order("sam@example.com", start - hours(2))  # recorded late, but before his cart
    matched = match_new_events(now=start + hours(1) + MINUTE)
    assert (matched.events, matched.reached_goal) == (2, 0)
    assert set(Enrollment.objects.values_list("status", flat=True)) == {EnrollmentStatus.ACTIVE}
    assert not EnrollmentLog.objects.exists()  # (nothing started yet, nothing ended)


def test_the_goals_filters_decide(email_layout: Any) -> None:
    flow = cart_flow()
    flow.goal_filters = [{"property": "total", "type": "number", "operator": "gte", "value": 50}]
    flow.save()
    subscribed("sam@example.com")
    start = timezone.now() - hours(200)
    abandon_cart("sam@example.com", start, ITEMS)
    match_new_events(now=start + MINUTE)
    order("sam@example.com", start + hours(1), total=20)  # too small to count
    assert match_new_events(now=start + hours(1) + MINUTE).reached_goal == 0
    assert Enrollment.objects.get().status == EnrollmentStatus.ACTIVE
    order("sam@example.com", start + hours(1.5), total=85)
    assert match_new_events(now=start + hours(1.5) + MINUTE).reached_goal == 1
    assert Enrollment.objects.get().status == EnrollmentStatus.GOAL


def test_a_cart_and_an_order_read_together_end_the_new_enrollment_as_advancing_would(
    email_layout: Any,
) -> None:
    cart_flow()
    subscribed("sam@example.com")
    subscribed("ana@example.com")
    start = timezone.now() - hours(200)
    for email in ("sam@example.com", "ana@example.com"):
        abandon_cart(email, start, ITEMS)
    order("sam@example.com", start + MINUTE)  # Sam orders a minute after his cart
    matched = match_new_events(now=start + 2 * MINUTE)
    assert (matched.enrolled, matched.reached_goal) == (2, 1)
    sam = Enrollment.objects.get(contact__email="sam@example.com")
    cart_event = sam.trigger_event_id
    assert log_of(sam) == [
        ("entered", "", f"event {cart_event}"),
        ("goal", "", "reached the goal"),
    ]
    assert ended_as(sam)[:5] == (EnrollmentStatus.GOAL, "", False, None, "reached the goal")
    assert Enrollment.objects.get(contact__email="ana@example.com").status == "active"


def test_a_leased_enrollment_is_left_to_the_worker_and_ends_the_same_way_when_due(
    email_layout: Any,
) -> None:
    cart_flow()
    subscribed("sam@example.com")
    subscribed("ana@example.com")
    start = timezone.now() - hours(200)
    for email in ("sam@example.com", "ana@example.com"):
        abandon_cart(email, start, ITEMS)
    match_new_events(now=start)
    advance_due(now=start)  # both wait 2 hours
    sam = Enrollment.objects.get(contact__email="sam@example.com")
    ana = Enrollment.objects.get(contact__email="ana@example.com")
    at = start + hours(1)
    # A worker is advancing Sam right now (its lease runs five more minutes).
    Enrollment.objects.filter(pk=sam.pk).update(lease_until=at + 5 * MINUTE)
    for email in ("sam@example.com", "ana@example.com"):
        order(email, at - MINUTE)
    assert match_new_events(now=at).reached_goal == 1
    sam.refresh_from_db()
    assert sam.status == EnrollmentStatus.ACTIVE and sam.lease_until == at + 5 * MINUTE
    assert not sam.log.filter(action="goal").exists()
    # Its lease over and its wait with it, advancing finds the goal: the same ending.
    Enrollment.objects.filter(pk=sam.pk).update(lease_until=None)
    assert advance_due(now=at).advanced == 0  # (not due yet: the matcher does not redo it)
    assert match_new_events(now=at).reached_goal == 0  # (no new events, nothing to end)
    assert advance_due(now=start + hours(2)).finished == 1
    ana_end, sam_end = ended_as(ana), ended_as(sam)
    assert ana_end[:5] == (EnrollmentStatus.GOAL, "w2h", False, None, "reached the goal")
    assert sam_end[:5] == ana_end[:5]
    assert (ana_end[5], sam_end[5]) == (at, start + hours(2))  # (finished_at: who found it)
    steps = [line[:2] for line in log_of(ana)]
    assert steps == [("entered", ""), ("step", "w2h"), ("goal", "w2h")]
    assert [line[:2] for line in log_of(sam)] == steps
    assert log_of(ana)[-1] == log_of(sam)[-1] == ("goal", "w2h", "reached the goal")


def test_a_queued_reminder_is_skipped_and_a_replayed_batch_ends_nothing_twice(
    email_layout: Any, sending_settings: Any, anymail_backend: Any
) -> None:
    flow = cart_flow()
    subscribed("sam@example.com")
    start = timezone.now() - hours(200)
    abandon_cart("sam@example.com", start, ITEMS)
    match_new_events(now=start)
    advance_due(now=start)
    advance_due(now=start + hours(2))  # the reminder is queued, not sent yet
    [message] = OutboxMessage.objects.all()
    order("sam@example.com", start + hours(2))
    pause_flow(flow)  # a paused flow holds what it does, not what the contact does
    assert match_new_events(now=start + hours(2) + MINUTE).reached_goal == 1
    enrollment = Enrollment.objects.get()
    assert enrollment.status == EnrollmentStatus.GOAL
    lines = log_of(enrollment)
    FlowCursor.objects.update(last_event_id=0)  # the whole log read again
    assert match_new_events(now=start + hours(3)).reached_goal == 0
    assert log_of(enrollment) == lines
    dispatch_due(clock=lambda: start + hours(3))
    message.refresh_from_db()
    assert (message.status, message.skip_reason) == (OutboxStatus.SKIPPED, GOAL_REACHED)
    assert anymail_backend.outbox == []


def test_the_queries_of_a_batch_do_not_grow_with_its_shoppers(email_layout: Any) -> None:
    cart_flow()
    start = timezone.now() - hours(200)

    def batch(first: int, count: int, at: dt.datetime) -> int:
        emails = [f"shopper{n}@example.com" for n in range(first, first + count)]
        for email in emails:
            subscribed(email)
            abandon_cart(email, at, ITEMS)
        match_new_events(now=at)
        for email in emails:
            order(email, at + MINUTE)
        with CaptureQueriesContext(connection) as queries:
            assert match_new_events(now=at + 2 * MINUTE).reached_goal == count
        return len(queries)

    assert batch(0, 3, start) == batch(3, 30, start + hours(1))
