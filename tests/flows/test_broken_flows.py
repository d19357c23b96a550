"""A flow whose trigger or goal no longer evaluates (a filter that makes no sense, a segment
whose rules fail) pauses itself and says why, and every other flow goes on: before, one
such flow failed every run of the matcher or the advancer, for all flows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.flows.conftest import hours, make_flow, send, subscribed, text, wait
from wagtail_oneonone.api import track
from wagtail_oneonone.flows.services import advance_due, resume_flow
from wagtail_oneonone.flows.triggers import (
    EVENTS_CURSOR,
    match_membership_triggers,
    match_new_events,
)
from wagtail_oneonone.models import (
    Enrollment,
    Event,
    Flow,
    FlowCursor,
    FlowStatus,
    OutboxMessage,
    OutboxStatus,
    Segment,
    TriggerType,
)
from wagtail_oneonone.sending.dispatch import dispatch_due

pytestmark = pytest.mark.django_db

CART = {"items": [{"product_id": "scarf", "quantity": 1}], "cart_total": 25}
NONSENSE = [{"property": "cart_total", "type": "number", "operator": "gte", "value": "lots"}]


def carts(*emails: str, at: dt.datetime) -> None:
    for email in emails:
        track("cart_updated", contact=subscribed(email), occurred_at=at, properties=CART)


def test_a_trigger_that_fails_pauses_its_flow_and_the_others_enroll(email_layout: Any) -> None:
    broken = make_flow(
        "Big carts", [wait("w", 1)], trigger_event_type="cart_updated", trigger_filters=NONSENSE
    )
    good = make_flow("Carts", [wait("w", 1)], trigger_event_type="cart_updated")
    now = timezone.now()
    carts("ann@example.com", "bob@example.com", at=now - hours(1))

    result = match_new_events(now=now)

    assert (result.events, result.enrolled) == (2, 2)
    assert set(Enrollment.objects.values_list("flow_id", flat=True)) == {good.pk}
    cursor = FlowCursor.objects.get(name=EVENTS_CURSOR)
    assert cursor.last_event_id == Event.objects.latest("id").pk  # the log read goes on
    broken.refresh_from_db()
    assert broken.status == FlowStatus.PAUSED
    assert "its trigger could not be evaluated" in broken.paused_reason
    assert "lots" in broken.paused_reason  # the error itself
    # Fixed and resumed: the reason goes, and new carts enroll it.
    Flow.objects.filter(pk=broken.pk).update(trigger_filters=[])
    assert resume_flow(broken, now=now)
    broken.refresh_from_db()
    assert (broken.status, broken.paused_reason) == (FlowStatus.ACTIVE, "")
    carts("cy@example.com", at=now + hours(1))
    assert match_new_events(now=now + hours(2)).enrolled == 2


def test_a_segment_trigger_that_fails_pauses_only_its_flow(email_layout: Any) -> None:
    bad = Segment.objects.create(
        name="Bad", slug="bad", rules={"version": 1, "rules": {"condition": "no-such-thing"}}
    )
    everyone = Segment.objects.create(
        name="All", slug="all", rules={"version": 1, "rules": {"all": []}}
    )
    broken = make_flow(
        "Entered bad",
        [wait("w", 1)],
        trigger_type=TriggerType.SEGMENT_ENTERED,
        trigger_segment=bad,
    )
    good = make_flow(
        "Entered all",
        [wait("w", 1)],
        trigger_type=TriggerType.SEGMENT_ENTERED,
        trigger_segment=everyone,
    )
    now = timezone.now()
    match_membership_triggers(now=now)  # the first look notes who is in
    subscribed("new@example.com")
    assert match_membership_triggers(now=now + hours(1)) == 1
    assert Enrollment.objects.get().flow_id == good.pk
    broken.refresh_from_db()
    assert broken.status == FlowStatus.PAUSED and "trigger" in broken.paused_reason


def test_a_goal_that_fails_pauses_its_flow_holds_its_contacts_and_the_rest_advance(
    email_layout: Any, sending_settings: Any, anymail_backend: Any
) -> None:
    steps = [wait("w", 2), send("s", "Still there?", text("<p>Your basket.</p>"))]
    broken = make_flow(
        "Reminder A", steps, trigger_event_type="cart_updated", goal_event_type="order_placed"
    )
    good = make_flow("Reminder B", steps, trigger_event_type="cart_updated")
    start = timezone.now() - hours(10)
    carts("dee@example.com", at=start)
    match_new_events(now=start)
    advance_due(now=start)
    # Its goal's filters are broken afterwards (saved from code, not the editor).
    Flow.objects.filter(pk=broken.pk).update(goal_filters=NONSENSE)

    result = advance_due(now=start + hours(3))

    assert result.advanced == 1 and result.sent == 1  # the other flow's reminder
    assert any("its goal failed" in error for error in result.errors)
    held = Enrollment.objects.get(flow=broken)
    assert (held.step_id, held.waiting, held.lease_until) == ("w", True, None)
    assert Enrollment.objects.get(flow=good).status == "completed"
    broken.refresh_from_db()
    assert broken.status == FlowStatus.PAUSED
    assert "its goal could not be evaluated" in broken.paused_reason
    dispatch_due(clock=lambda: start + hours(3))
    assert [email.subject for email in anymail_backend.outbox] == ["Still there?"]


def test_a_queued_email_whose_goal_fails_at_send_time_is_skipped_and_says_why(
    email_layout: Any, sending_settings: Any, anymail_backend: Any
) -> None:
    flow = make_flow(
        "Reminder",
        [send("s", "Still there?", text("<p>Your basket.</p>"))],
        trigger_event_type="cart_updated",
        goal_event_type="order_placed",
    )
    start = timezone.now() - hours(1)
    carts("eve@example.com", at=start)
    match_new_events(now=start)
    advance_due(now=start)
    Flow.objects.filter(pk=flow.pk).update(goal_filters=NONSENSE)

    dispatch_due(clock=lambda: start + dt.timedelta(minutes=1))

    message = OutboxMessage.objects.get()
    assert message.status == OutboxStatus.SKIPPED
    assert "goal could not be evaluated" in message.skip_reason
    assert anymail_backend.outbox == []
    flow.refresh_from_db()
    assert flow.status == FlowStatus.PAUSED


def test_the_admin_says_why_a_flow_paused_itself(admin_client: Client) -> None:
    flow = make_flow("Big carts", [wait("w", 1)], trigger_event_type="cart_updated")
    Flow.objects.filter(pk=flow.pk).update(
        status=FlowStatus.PAUSED,
        paused_reason="Paused by itself on 2026-11-26 10:00 UTC: its trigger could not be "
        "evaluated (ValueError: could not convert string to float: 'lots').",
    )
    page = admin_client.get(reverse("oneonone_flow:inspect", args=[flow.pk])).content.decode()
    assert "data-oneonone-paused-reason" in page
    assert "could not convert string to float" in page
    listing = admin_client.get(reverse("oneonone_flow:index")).content.decode()
    assert "Paused: needs fixing" in listing
    # Turned on again in the editor: the reason goes with the pause.
    flow.refresh_from_db()
    flow.status = FlowStatus.ACTIVE
    flow.save()
    flow.refresh_from_db()
    assert flow.paused_reason == ""


def test_steps_that_make_no_sense_pause_their_flow_and_the_rest_advance(
    email_layout: Any,
) -> None:
    odd = wait("w", 1)
    odd["value"]["unit"] = "fortnights"  # saved from code: the editor offers no such unit
    broken = make_flow("Odd wait", [odd], trigger_event_type="signed_up")
    good = make_flow("Plain wait", [wait("w", 1)], trigger_event_type="signed_up")
    now = timezone.now()
    track("signed_up", contact=subscribed("fay@example.com"), occurred_at=now - hours(1))
    assert match_new_events(now=now).enrolled == 2

    result = advance_due(now=now)

    assert result.advanced == 1
    assert any("its steps failed" in error for error in result.errors)
    assert Enrollment.objects.get(flow=good).step_id == "w"
    held = Enrollment.objects.get(flow=broken)
    assert (held.step_id, held.lease_until, held.status) == ("", None, "active")
    broken.refresh_from_db()
    assert broken.status == FlowStatus.PAUSED
    assert "its steps could not be evaluated" in broken.paused_reason
    assert "fortnights" in broken.paused_reason
    assert advance_due(now=now + hours(2)).errors == []  # paused: nothing is tried again


def test_a_branch_on_a_segment_gone_pauses_its_flow(email_layout: Any) -> None:
    gone = Segment.objects.create(name="Gone", slug="gone", rules={"version": 1, "rules": {}})
    branch = {
        "type": "branch",
        "id": "b",
        "value": {
            "label": "In it?",
            "condition": [{"type": "segment", "value": str(gone.pk)}],
            "yes": [],
            "no": [],
        },
    }
    broken = make_flow("Branchy", [branch, wait("w", 1)], trigger_event_type="signed_up")
    good = make_flow("Plain", [wait("w", 1)], trigger_event_type="signed_up")
    Segment.objects.filter(pk=gone.pk).delete()  # from code: the admin refuses it
    now = timezone.now()
    for email in ("gil@example.com", "hal@example.com"):
        track("signed_up", contact=subscribed(email), occurred_at=now - hours(1))
    match_new_events(now=now)

    result = advance_due(now=now)

    assert result.advanced == 2  # the other flow's two
    assert set(Enrollment.objects.filter(flow=good).values_list("step_id", flat=True)) == {"w"}
    held = Enrollment.objects.filter(flow=broken)
    assert set(held.values_list("step_id", "lease_until")) == {("", None)}
    broken.refresh_from_db()
    assert broken.status == FlowStatus.PAUSED
    assert "its steps could not be evaluated" in broken.paused_reason
    assert "no longer exists" in broken.paused_reason
