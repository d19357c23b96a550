"""The outbox: idempotent queuing, claims with leases, retries and the lease sweep."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test import override_settings

from wagtail_oneonone.models import Contact, MessageKind, OutboxMessage, OutboxStatus
from wagtail_oneonone.sending import outbox
from wagtail_oneonone.sending.outbox import QueuedMessage

NOW = dt.datetime(2026, 6, 10, 11, 0, tzinfo=dt.UTC)


@pytest.fixture
def contacts(db: None) -> list[Contact]:
    return [Contact.objects.create(email=f"c{i}@example.com") for i in range(5)]


def queue(contact: Contact, occurrence: str = "", **kwargs: object) -> tuple[OutboxMessage, bool]:
    return outbox.queue_message(
        contact,
        source_type="template",
        source_id="7",
        kind=kwargs.pop("kind", MessageKind.MARKETING),  # type: ignore[arg-type]
        occurrence=occurrence,
        scheduled_at=kwargs.pop("scheduled_at", NOW),  # type: ignore[arg-type]
    )


def test_the_same_email_is_queued_once(contacts: list[Contact]) -> None:
    first, created = queue(contacts[0])
    again, created_again = queue(contacts[0])
    assert created and not created_again
    assert first.pk == again.pk
    assert queue(contacts[0], occurrence="2026-06")[1]
    assert OutboxMessage.objects.count() == 2


def test_bulk_queue_ignores_what_is_already_queued(contacts: list[Contact]) -> None:
    items = [
        QueuedMessage(c.pk, "campaign", "3", MessageKind.MARKETING, scheduled_at=NOW)
        for c in contacts
    ]
    assert outbox.queue_messages(items[:2]) == 2
    assert outbox.queue_messages(items, batch_size=2) == 3
    assert outbox.queue_messages(items) == 0  # a replayed schedule queues nothing new
    assert OutboxMessage.objects.count() == 5


def test_claims_take_due_messages_once(contacts: list[Contact]) -> None:
    for contact in contacts:
        queue(contact)
    queue(contacts[0], occurrence="later", scheduled_at=NOW + dt.timedelta(hours=1))
    first = outbox.claim_due_messages(NOW, limit=3, worker="w1")
    second = outbox.claim_due_messages(NOW, limit=10, worker="w2")
    assert len(first) == 3 and len(second) == 2
    assert not set(first) & set(second)
    assert outbox.claim_due_messages(NOW, limit=10, worker="w3") == []
    claimed = OutboxMessage.objects.get(pk=first[0])
    assert claimed.status == OutboxStatus.CLAIMED
    assert claimed.lease_expires_at == NOW + dt.timedelta(seconds=300)
    assert claimed.claimed_by.startswith("w1:")


def test_claims_can_be_limited_to_a_kind(contacts: list[Contact]) -> None:
    queue(contacts[0])
    receipt, _ = queue(contacts[1], kind=MessageKind.TRANSACTIONAL)
    ids = outbox.claim_due_messages(NOW, limit=10, worker="w", kinds=[MessageKind.TRANSACTIONAL])
    assert ids == [receipt.pk]


def claimed(contact: Contact) -> OutboxMessage:
    queue(contact)
    [message_id] = outbox.claim_due_messages(NOW, limit=1, worker="w")
    return OutboxMessage.objects.get(pk=message_id)


def test_outcomes_need_the_claim(contacts: list[Contact]) -> None:
    message = claimed(contacts[0])
    stale = OutboxMessage.objects.get(pk=message.pk)
    stale.claimed_by = "someone-else"
    assert not outbox.mark_skipped(stale, "x")
    assert outbox.mark_handed_off(message, NOW)
    assert outbox.mark_sent(
        message, now=NOW, esp_message_id="esp-1", message_id_header="<m@x>", subject="Hi"
    )
    message.refresh_from_db()
    assert (message.status, message.attempts, message.esp_message_id) == ("sent", 1, "esp-1")
    assert message.lease_expires_at is None
    assert not outbox.mark_sent(
        message, now=NOW, esp_message_id="again", message_id_header="", subject=""
    )


def test_a_group_is_handed_off_and_recorded_where_its_claims_hold(contacts: list[Contact]) -> None:
    for contact in contacts[:4]:
        queue(contact)
    ids = outbox.claim_due_messages(NOW, limit=10, worker="w1")
    messages = list(OutboxMessage.objects.filter(pk__in=ids).order_by("id"))
    # The lease of the first ran out and another worker took it over.
    OutboxMessage.objects.filter(pk=messages[0].pk).update(claimed_by="w2:x")
    handed = outbox.mark_handed_off_many(messages, NOW)
    assert handed == messages[1:]
    assert [message.attempts for message in handed] == [1, 1, 1]
    # The second one's lease ran out too while it was with the backend: the sweep said so.
    OutboxMessage.objects.filter(pk=messages[1].pk).update(status=OutboxStatus.UNKNOWN)
    sent = [
        outbox.SentMessage(message, NOW, f"esp-{message.pk}", f"<{message.pk}@x>", "Hi")
        for message in handed
    ]
    assert [item.message for item in outbox.mark_sent_many(sent)] == messages[2:]
    rows = {row.pk: row for row in OutboxMessage.objects.filter(pk__in=ids)}
    assert [rows[message.pk].status for message in messages] == [
        "claimed",
        "unknown",
        "sent",
        "sent",
    ]
    assert rows[messages[0].pk].handed_off_at is None
    assert rows[messages[3].pk].esp_message_id == f"esp-{messages[3].pk}"
    assert rows[messages[3].pk].lease_expires_at is None


@override_settings(WAGTAIL_ONEONONE={"MAX_SEND_ATTEMPTS": 3, "RETRY_BACKOFF_SECONDS": 60})
def test_transient_failures_back_off_then_fail(contacts: list[Contact]) -> None:
    message = claimed(contacts[0])
    delays = []
    for attempt in range(1, 4):
        outbox.mark_handed_off(message, NOW)
        outbox.mark_for_retry(message, "connection refused", now=NOW)
        message.refresh_from_db()
        if attempt < 3:
            assert message.status == OutboxStatus.QUEUED
            delays.append((message.scheduled_at - NOW).total_seconds())
            [message_id] = outbox.claim_due_messages(message.scheduled_at, limit=1, worker="w")
            message = OutboxMessage.objects.get(pk=message_id)
    assert delays == [60, 120]
    assert message.status == OutboxStatus.FAILED
    assert "gave up after 3 attempts: connection refused" in message.last_error


def test_sweep_requeues_unsent_and_marks_handed_off_unknown(contacts: list[Contact]) -> None:
    never_sent = claimed(contacts[0])
    maybe_sent = claimed(contacts[1])
    outbox.mark_handed_off(maybe_sent, NOW)
    assert outbox.sweep_expired_leases(NOW + dt.timedelta(seconds=60)) == (0, 0)
    assert outbox.sweep_expired_leases(NOW + dt.timedelta(seconds=301)) == (1, 1)
    never_sent.refresh_from_db()
    maybe_sent.refresh_from_db()
    assert never_sent.status == OutboxStatus.QUEUED
    assert maybe_sent.status == OutboxStatus.UNKNOWN
    assert "handing the message" in maybe_sent.last_error


def test_deferral_returns_the_message_to_the_queue(contacts: list[Contact]) -> None:
    message = claimed(contacts[0])
    morning = NOW + dt.timedelta(hours=9)
    assert outbox.mark_deferred(message, morning, "quiet hours")
    message.refresh_from_db()
    assert (message.status, message.scheduled_at, message.attempts) == ("queued", morning, 0)
    assert outbox.claim_due_messages(NOW, limit=5, worker="w") == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_on_postgres_never_share_a_message() -> None:
    people = [Contact.objects.create(email=f"p{i}@example.com") for i in range(400)]
    # Rows written directly: queue_messages() would wake the (sync, in tests) dispatcher.
    OutboxMessage.objects.bulk_create(
        OutboxMessage(
            contact=c,
            source_type="campaign",
            source_id="9",
            idempotency_key=f"c9:{c.pk}",
            kind=MessageKind.MARKETING,
            scheduled_at=NOW,
        )
        for c in people
    )
    results: list[list[int]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        got: list[int] = []
        while ids := outbox.claim_due_messages(NOW, limit=7, worker=name):
            got.extend(ids)
        with lock:
            results.append(got)
        connection.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [message_id for got in results for message_id in got]
    assert len(everything) == len(set(everything)) == 400
    assert sum(1 for got in results if got) > 1  # the work really was shared
