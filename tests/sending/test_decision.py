"""The send-time decision: consent, suppression, preferences, caps and quiet hours."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from wagtail_oneonone.contacts.services import set_consent, suppress
from wagtail_oneonone.models import Contact, MessageKind, OutboxMessage, OutboxStatus
from wagtail_oneonone.sending.decision import DEFER, SEND, SKIP, decide, quiet_hours_end

pytestmark = pytest.mark.django_db

NOON_LONDON = dt.datetime(2026, 6, 10, 11, 0, tzinfo=dt.UTC)  # 12:00 BST


def make_contact(email: str = "ann@example.com", **fields: object) -> Contact:
    contact = Contact.objects.create(email=email, time_zone="Europe/London", **fields)
    set_consent(contact, "subscribed", source="test")
    return contact


def make_message(contact: Contact, kind: str = MessageKind.MARKETING, n: int = 0) -> OutboxMessage:
    return OutboxMessage.objects.create(
        contact=contact,
        source_type="template",
        source_id="1",
        idempotency_key=f"k-{contact.pk}-{n}-{kind}",
        kind=kind,
        scheduled_at=NOON_LONDON,
    )


def sent_before(contact: Contact, hours: float, n: int) -> None:
    message = make_message(contact, n=100 + n)
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.SENT, sent_at=NOON_LONDON - dt.timedelta(hours=hours)
    )


def test_subscribed_contact_at_noon_is_sent() -> None:
    contact = make_contact()
    assert decide(make_message(contact), contact, now=NOON_LONDON).action == SEND


@pytest.mark.parametrize("status", ["none", "pending", "unsubscribed"])
def test_marketing_needs_consent(status: str) -> None:
    contact = Contact.objects.create(email="bo@example.com")
    if status != "none":
        set_consent(contact, status, source="test")
    decision = decide(make_message(contact), contact, now=NOON_LONDON)
    assert decision.action == SKIP
    assert "consent" in decision.reason


def test_transactional_mail_ignores_consent_but_not_a_dead_address() -> None:
    contact = Contact.objects.create(email="cy@example.com")
    message = make_message(contact, MessageKind.TRANSACTIONAL)
    assert decide(message, contact, now=NOON_LONDON).action == SEND
    suppress(contact.email, "hard_bounce")
    assert decide(message, contact, now=NOON_LONDON).action == SKIP


def test_suppression_pause_and_topics_skip() -> None:
    contact = make_contact()
    message = make_message(contact)
    # Changed in the database after the batch loaded ``contact``: the fresh values win.
    Contact.objects.filter(pk=contact.pk).update(paused_until=NOON_LONDON + dt.timedelta(days=3))
    assert "paused" in decide(message, contact, now=NOON_LONDON).reason
    Contact.objects.filter(pk=contact.pk).update(paused_until=None, topics_opted_out=["offers"])
    assert "topic" in decide(message, contact, now=NOON_LONDON, topic="offers").reason
    assert decide(message, contact, now=NOON_LONDON, topic="news").action == SEND
    suppress(contact.email, "complaint")
    assert "suppressed" in decide(message, contact, now=NOON_LONDON).reason


def test_a_source_that_ended_skips() -> None:
    contact = make_contact()
    decision = decide(make_message(contact), contact, now=NOON_LONDON, source_problem="cancelled")
    assert (decision.action, decision.reason) == (SKIP, "cancelled")


@override_settings(
    WAGTAIL_ONEONONE={"FREQUENCY_CAP": {"max_messages": 2, "window_hours": 48, "min_gap_hours": 4}}
)
def test_frequency_cap_and_minimum_gap() -> None:
    contact = make_contact()
    message = make_message(contact)
    sent_before(contact, 2, 1)
    assert "within 4 hours" in decide(message, contact, now=NOON_LONDON).reason
    OutboxMessage.objects.filter(status=OutboxStatus.SENT).delete()
    sent_before(contact, 10, 1)
    assert decide(message, contact, now=NOON_LONDON).action == SEND
    sent_before(contact, 20, 2)
    assert "2 marketing emails" in decide(message, contact, now=NOON_LONDON).reason
    # Transactional mail is never capped.
    receipt = make_message(contact, MessageKind.TRANSACTIONAL)
    assert decide(receipt, contact, now=NOON_LONDON).action == SEND


def test_an_opt_out_after_the_batch_was_loaded_still_wins() -> None:
    contact = make_contact()
    message = make_message(contact)
    stale = Contact.objects.get(pk=contact.pk)  # as the dispatcher loaded it
    Contact.objects.filter(pk=contact.pk).update(consent_status="unsubscribed")
    assert decide(message, stale, now=NOON_LONDON).action == SKIP


def test_weekly_preference_allows_one_a_week() -> None:
    contact = make_contact(email_frequency="weekly")
    message = make_message(contact)
    sent_before(contact, 24 * 5, 1)
    assert "every 7 days" in decide(message, contact, now=NOON_LONDON).reason
    OutboxMessage.objects.filter(status=OutboxStatus.SENT).update(
        sent_at=NOON_LONDON - dt.timedelta(days=8)
    )
    assert decide(message, contact, now=NOON_LONDON).action == SEND


@override_settings(WAGTAIL_ONEONONE={"QUIET_HOURS": {"start": 21, "end": 8}})
def test_quiet_hours_defer_to_the_local_morning() -> None:
    contact = make_contact()
    contact.time_zone = "America/New_York"
    late = dt.datetime(2026, 6, 10, 3, 30, tzinfo=dt.UTC)  # 23:30 in New York (EDT)
    decision = decide(make_message(contact), contact, now=late)
    assert decision.action == DEFER
    assert decision.defer_until == dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)  # 08:00 EDT


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # Europe/London springs forward on 29 March 2026: 08:00 is BST (UTC+1) that day.
        (
            "Europe/London",
            dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC),
            dt.datetime(2026, 3, 29, 7, 0, tzinfo=dt.UTC),
        ),
        # ...and falls back on 25 October: 08:00 is GMT again.
        (
            "Europe/London",
            dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC),
            dt.datetime(2026, 10, 25, 8, 0, tzinfo=dt.UTC),
        ),
        # Sydney at 22:00 local waits until 08:00 the next day.
        (
            "Australia/Sydney",
            dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC),
            dt.datetime(2026, 6, 10, 22, 0, tzinfo=dt.UTC),
        ),
        ("Asia/Tokyo", dt.datetime(2026, 6, 10, 3, 0, tzinfo=dt.UTC), None),  # 12:00 local
    ],
)
def test_quiet_hours_end_is_dst_correct(zone: str, now: dt.datetime, expected: object) -> None:
    contact = Contact(email="x@example.com", time_zone=zone)
    assert quiet_hours_end(contact, now) == expected


@override_settings(WAGTAIL_ONEONONE={"QUIET_HOURS": None})
def test_quiet_hours_can_be_switched_off() -> None:
    contact = Contact(email="x@example.com", time_zone="Europe/London")
    assert quiet_hours_end(contact, dt.datetime(2026, 6, 10, 1, 0, tzinfo=dt.UTC)) is None


def test_contacts_without_a_zone_use_the_sites() -> None:
    contact = Contact(email="x@example.com")  # tests.settings: TIME_ZONE Europe/London
    at_2330_bst = dt.datetime(2026, 6, 10, 22, 30, tzinfo=dt.UTC)
    assert quiet_hours_end(contact, at_2330_bst) == dt.datetime(2026, 6, 11, 7, 0, tzinfo=dt.UTC)
