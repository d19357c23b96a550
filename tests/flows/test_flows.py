"""Flows against the database: triggers from the event log, waits by an injected clock,
goals before and at send time, replays, branches, contact updates and staff notes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.campaigns.conftest import attribute_is, segment
from tests.flows.conftest import (
    CART_ITEMS,
    abandon_cart,
    cart_flow,
    hours,
    make_flow,
    raw,
    run,
    send,
    step,
    subscribed,
    text,
    wait,
)
from wagtail_oneonone.api import track
from wagtail_oneonone.flows.services import advance_due, pause_flow, resume_flow
from wagtail_oneonone.flows.triggers import match_new_events
from wagtail_oneonone.models import (
    Enrollment,
    EnrollmentStatus,
    Event,
    FlowCursor,
    FlowStatus,
    OutboxMessage,
    OutboxStatus,
    Reentry,
)
from wagtail_oneonone.sending.dispatch import dispatch_due

pytestmark = pytest.mark.django_db

ITEMS = [
    {"product_id": "scarf", "name": "Wool scarf", "quantity": 1, "price": 25},
    {"product_id": "hat", "name": "Felt hat", "quantity": 2, "price": 30},
]


ORDER = {"order_id": "1001", "items": ITEMS, "total": 85}


def test_an_abandoned_cart_gets_its_reminder_and_a_purchase_ends_the_flow(
    email_layout: Any, sending_settings: Any, anymail_backend: Any
) -> None:
    cart_flow()
    subscribed("sam@example.com", first_name="Sam")
    start = timezone.now() - hours(200)  # the clock is injected; events are in the past
    abandon_cart("sam@example.com", start, ITEMS)

    run(start + dt.timedelta(minutes=1))
    assert anymail_backend.outbox == []
    enrollment = Enrollment.objects.get()
    assert (enrollment.step_id, enrollment.waiting) == ("w2h", True)
    assert enrollment.next_run_at == enrollment.entered_at + hours(2)

    run(start + hours(2))
    [reminder] = anymail_backend.outbox
    assert reminder.subject == "Sam, your basket is waiting"
    html = reminder.alternatives[0][0]
    assert "Wool scarf x 1" in html and "Felt hat x 2" in html
    assert "Wool scarf x 1" in reminder.body  # the text part lists them too

    track(
        "order_placed",
        email="sam@example.com",
        occurred_at=start + hours(3),
        value=85,
        properties=ORDER,
    )
    run(start + hours(24))
    run(start + hours(100))
    assert len(anymail_backend.outbox) == 1  # the 24-hour incentive never went
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.GOAL
    actions = list(enrollment.log.values_list("action", flat=True))
    assert actions[0] == "entered" and "sent" in actions and actions[-1] == "goal"


def test_a_purchase_between_queueing_and_sending_cancels_the_reminder(
    email_layout: Any, sending_settings: Any, anymail_backend: Any
) -> None:
    cart_flow()
    subscribed("sam@example.com")
    start = timezone.now() - hours(200)  # the clock is injected; events are in the past
    abandon_cart("sam@example.com", start, ITEMS)
    match_new_events(now=start)
    advance_due(now=start)
    advance_due(now=start + hours(2))  # the reminder is queued...
    message = OutboxMessage.objects.get()
    assert message.status == OutboxStatus.QUEUED
    track("order_placed", email="sam@example.com", occurred_at=start + hours(2), properties=ORDER)
    dispatch_due(clock=lambda: start + hours(2) + dt.timedelta(seconds=5))  # ...then sent
    message.refresh_from_db()
    assert message.status == OutboxStatus.SKIPPED
    assert message.skip_reason == "the contact reached the flow's goal"
    assert anymail_backend.outbox == []


def test_a_replayed_event_batch_enrolls_no_one_twice(email_layout: Any) -> None:
    once = cart_flow()
    once.reentry = Reentry.ONCE
    once.save()
    every = make_flow(
        "Every cart",
        [wait("w", 1), send("s", "Hi", text("<p>Hi</p>"))],
        trigger_event_type="cart_updated",
    )
    subscribed("sam@example.com")
    start = timezone.now() - hours(200)  # the clock is injected; events are in the past
    abandon_cart("sam@example.com", start, ITEMS)
    abandon_cart("sam@example.com", start + dt.timedelta(minutes=5), ITEMS)
    for _ in range(2):
        match_new_events(now=start + dt.timedelta(minutes=6))
    FlowCursor.objects.update(last_event_id=0)  # a replay from the start of the log
    assert match_new_events(now=start + hours(1)).enrolled == 0
    assert Enrollment.objects.filter(flow=once).count() == 1
    assert Enrollment.objects.filter(flow=every).count() == 2  # one per cart event


def test_a_broken_step_fails_that_message_and_the_flow_goes_on_for_everyone(
    email_layout: Any, sending_settings: Any, anymail_backend: Any
) -> None:
    sending_settings.WAGTAIL_ONEONONE = {
        **sending_settings.WAGTAIL_ONEONONE,
        "FREQUENCY_CAP": None,
    }
    make_flow(
        "Fragile",
        [
            send("split", "Your share", raw("<p>{{ 12 // contact.attributes.kids }} each</p>")),
            wait("w", 1),
            send("after", "Still here", text("<p>Next step</p>")),
        ],
        trigger_event_type="signed_up",
    )
    subscribed("two@example.com", attributes={"kids": 2})
    subscribed("none@example.com", attributes={"kids": 0})  # 12 // 0 breaks for this one
    start = timezone.now() - hours(200)  # the clock is injected; events are in the past
    for email in ("two@example.com", "none@example.com"):
        track("signed_up", email=email, occurred_at=start)
    run(start)
    failed = OutboxMessage.objects.get(status=OutboxStatus.FAILED)
    assert failed.contact.email == "none@example.com"
    assert "template error" in failed.last_error and "division" in failed.last_error
    assert [message.subject for message in anymail_backend.outbox] == ["Your share"]
    run(start + hours(1))
    assert sorted(message.to[0] for message in anymail_backend.outbox[1:]) == [
        "none@example.com",
        "two@example.com",
    ]
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"completed"}


def test_branches_update_the_contact_and_notify_a_colleague(
    email_layout: Any, sending_settings: Any, anymail_backend: Any
) -> None:
    vips = segment("VIPs", attribute_is("tier", "vip"))
    make_flow(
        "After an order",
        [
            step(
                "branch",
                "vip?",
                {
                    "label": "VIP?",
                    "condition": [{"type": "segment", "value": str(vips.pk)}],
                    "yes": [
                        step(
                            "notify",
                            "call",
                            {"to": "jo@shop.example", "message": "Call {{ contact.first_name }}"},
                        )
                    ],
                    "no": [
                        step(
                            "update_contact",
                            "tag",
                            {"action": "add_tag", "name": "first-timer", "value": ""},
                        )
                    ],
                },
            ),
        ],
        trigger_event_type="order_placed",
    )
    vera = subscribed("vera@example.com", first_name="Vera", attributes={"tier": "vip"})
    ned = subscribed("ned@example.com", first_name="Ned")
    start = timezone.now() - hours(200)  # the clock is injected; events are in the past
    for contact in (vera, ned):
        track("order_placed", contact=contact, occurred_at=start, properties=ORDER)
    run(start)
    [note] = anymail_backend.outbox
    assert note.to == ["jo@shop.example"]
    assert note.subject == "Follow up: Vera"
    assert "Call Vera" in note.alternatives[0][0]
    assert "/admin/oneonone_contact/" in note.alternatives[0][0]
    ned.refresh_from_db()
    assert ned.attributes["tags"] == ["first-timer"]
    vera.refresh_from_db()
    assert "tags" not in vera.attributes


def test_browse_abandonment_needs_the_second_view_within_the_window(
    email_layout: Any,
) -> None:
    make_flow(
        "Browse abandonment",
        [wait("w4h", 4), send("s", "Still looking?", raw(CART_ITEMS))],
        trigger_event_type="product_viewed",
        trigger_count=2,
        trigger_window_hours=24,
        reentry=Reentry.EVERY_N_DAYS,
        reentry_days=7,
    )
    subscribed("bea@example.com")
    start = timezone.now() - hours(60)

    def view(at: dt.datetime) -> None:
        track(
            "product_viewed",
            email="bea@example.com",
            occurred_at=at,
            properties={"product_id": "scarf"},
        )
        match_new_events(now=timezone.now())

    view(start)
    assert not Enrollment.objects.exists()
    view(start + hours(30))  # a second view, but 30 hours later
    assert not Enrollment.objects.exists()
    view(start + hours(31))
    assert Enrollment.objects.count() == 1
    view(start + hours(32))  # within 7 days of entering: not again
    assert Enrollment.objects.count() == 1


def test_a_paused_flow_holds_its_enrollments_and_an_entry_segment_filters(
    email_layout: Any,
) -> None:
    vips = segment("VIPs", attribute_is("tier", "vip"))
    flow = make_flow(
        "VIP carts",
        [wait("w", 1), send("s", "Hi", text("<p>Hi</p>"))],
        trigger_event_type="cart_updated",
        entry_segment=vips,
    )
    subscribed("vip@example.com", attributes={"tier": "vip"})
    subscribed("other@example.com")
    flow.status = FlowStatus.PAUSED
    flow.save()
    abandon_cart("vip@example.com", timezone.now(), ITEMS)
    match_new_events()
    assert not Enrollment.objects.exists()  # paused flows enroll no one...
    resume_flow(flow)
    abandon_cart("vip@example.com", timezone.now(), ITEMS)
    abandon_cart("other@example.com", timezone.now(), ITEMS)
    match_new_events()
    # Only since it was turned on again, and only members of the entry segment.
    [enrollment] = Enrollment.objects.all()
    assert enrollment.contact.email == "vip@example.com"
    advance_due()
    pause_flow(flow)
    later = timezone.now() + hours(2)
    assert advance_due(now=later).advanced == 0  # ...and advance no one
    resume_flow(flow)
    assert advance_due(now=later).advanced == 1


def test_turning_a_flow_on_does_not_answer_the_history_of_the_log(email_layout: Any) -> None:
    subscribed("old@example.com")
    abandon_cart("old@example.com", timezone.now() - hours(3), ITEMS)
    flow = cart_flow()
    flow.activated_at = None
    flow.status = FlowStatus.DRAFT
    flow.save()
    flow.status = FlowStatus.ACTIVE
    flow.save()
    assert match_new_events().enrolled == 0
    abandon_cart("old@example.com", timezone.now(), ITEMS)
    assert match_new_events().enrolled == 1


def test_an_event_committed_after_later_ones_were_read_is_still_read(email_layout: Any) -> None:
    cart_flow()
    first = subscribed("first@example.com")
    late = subscribed("late@example.com")
    abandon_cart("first@example.com", timezone.now(), ITEMS)
    abandon_cart("late@example.com", timezone.now(), ITEMS)
    abandon_cart("first@example.com", timezone.now(), ITEMS)
    events = list(Event.objects.order_by("pk"))
    # As if the middle insert had not committed yet when the reader came by.
    held = events[1]
    held_id = held.pk
    held_values = {
        "contact": held.contact,
        "type": held.type,
        "occurred_at": held.occurred_at,
        "properties": held.properties,
        "recorded_at": held.recorded_at,
    }
    held.delete()
    match_new_events()
    assert FlowCursor.objects.get().gaps[0][0] == held_id
    Event.objects.create(pk=held_id, **held_values)  # it commits now
    match_new_events()
    contacts = set(Enrollment.objects.values_list("contact", flat=True))
    assert contacts == {first.pk, late.pk}
    assert FlowCursor.objects.get().gaps == []
