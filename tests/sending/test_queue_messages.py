"""``queue_messages()`` writes rows without model instances: they must be the ORM's rows."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from wagtail_oneonone.models import Contact, Event, MessageKind, OutboxMessage, OutboxStatus
from wagtail_oneonone.receivers import on_messages_queued
from wagtail_oneonone.sending import outbox
from wagtail_oneonone.sending.outbox import QueuedMessage, queue_messages
from wagtail_oneonone.signals import messages_queued

NOW = dt.datetime(2026, 6, 10, 11, 0, tzinfo=dt.UTC)
#: Everything an array literal or a placeholder could trip over.
AWKWARD = ['a"b', "back\\slash", "comma,brace{}", "NULL", " spaced ", "100%s", "ünï😀", ""]


@pytest.fixture
def contacts(db: None) -> list[Contact]:
    return [Contact.objects.create(email=f"q{i}@example.com") for i in range(6)]


def fields_of(message: OutboxMessage) -> dict[str, object]:
    values = {
        field.attname: getattr(message, field.attname)
        for field in OutboxMessage._meta.concrete_fields
    }
    for name in ("id", "created_at", "updated_at"):
        values.pop(name)
    return values


def test_a_row_is_the_row_the_orm_writes(contacts: list[Contact]) -> None:
    event = Event.objects.create(contact=contacts[0], type="order_placed", occurred_at=NOW)
    paris = dt.datetime(2026, 6, 11, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    item = QueuedMessage(
        contacts[0].pk,
        "flow",
        "12",
        MessageKind.TRANSACTIONAL,
        occurrence="step-2",
        scheduled_at=paris,
        trigger_event_id=event.pk,
        context={"order": {"total": "12.50", "lines": [1, 2]}, "note": 'a "quote" ü'},
    )
    other = QueuedMessage(contacts[2].pk, "flow", "12", MessageKind.TRANSACTIONAL)
    assert queue_messages([item]) == 1  # alone (every column one value)
    assert queue_messages([other, item]) == 1  # with another (columns as arrays)
    assert OutboxMessage.objects.get(contact=contacts[2]).context == {}
    written = OutboxMessage.objects.get(contact=contacts[0])
    assert written.scheduled_at == paris
    assert written.created_at is not None and written.updated_at is not None
    expected = OutboxMessage.objects.create(
        contact=contacts[1],
        source_type="flow",
        source_id="12",
        idempotency_key="other",
        kind=MessageKind.TRANSACTIONAL,
        scheduled_at=paris,
        trigger_event=event,
        context=item.context,
    )
    mine, orms = fields_of(written), fields_of(expected)
    assert mine.pop("idempotency_key") == outbox.idempotency_key(
        "flow", "12", contacts[0].pk, "step-2"
    )
    assert mine.pop("contact_id") == contacts[0].pk
    orms.pop("idempotency_key"), orms.pop("contact_id")
    assert mine == orms
    assert written.status == OutboxStatus.QUEUED and written.attempts == 0
    # The same again, written in a batch where every column is an array.
    OutboxMessage.objects.filter(pk=written.pk).delete()
    assert queue_messages([other, item]) == 1
    again = fields_of(OutboxMessage.objects.get(contact=contacts[0]))
    again.pop("idempotency_key"), again.pop("contact_id")
    assert again == orms


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_awkward_values_are_stored_exactly(contacts: list[Contact], batch_size: int) -> None:
    items = [
        QueuedMessage(
            contacts[index % len(contacts)].pk,
            "campaign",
            text,
            MessageKind.MARKETING,
            occurrence=text,
            scheduled_at=NOW + dt.timedelta(minutes=index % 3),
            trigger_event_id=None,
            context={"text": text} if index % 2 else None,
        )
        for index, text in enumerate(AWKWARD)
    ]
    assert queue_messages(items, batch_size=batch_size) == len(AWKWARD)
    stored = {
        row.idempotency_key: row
        for row in OutboxMessage.objects.filter(source_type="campaign").order_by("pk")
    }
    for index, (item, text) in enumerate(zip(items, AWKWARD, strict=True)):
        key = outbox.idempotency_key("campaign", text, item.contact_id, text)
        row = stored[key]
        assert (row.source_id, row.contact_id) == (text, item.contact_id)
        assert row.scheduled_at == NOW + dt.timedelta(minutes=index % 3)
        assert row.context == ({"text": text} if index % 2 else {})
    assert queue_messages(items, batch_size=batch_size) == 0


def test_counts_only_new_rows_even_repeated_within_a_batch(contacts: list[Contact]) -> None:
    items = [QueuedMessage(c.pk, "campaign", "4", MessageKind.MARKETING) for c in contacts]
    assert queue_messages(items[:2]) == 2
    # The first two again, one of them twice in the same batch, and the rest once.
    assert queue_messages([items[0], *items, items[3]], batch_size=4) == len(contacts) - 2
    assert queue_messages([items[5]] * 3) == 0
    assert OutboxMessage.objects.count() == len(contacts)
    assert queue_messages([]) == 0
    same = QueuedMessage(contacts[0].pk, "campaign", "5", MessageKind.MARKETING)
    assert queue_messages([same, same, same]) == 1  # every column the same


def test_a_message_without_a_time_is_due_now(contacts: list[Contact]) -> None:
    before = dt.datetime.now(dt.UTC)
    queue_messages([QueuedMessage(contacts[0].pk, "template", "1", MessageKind.MARKETING)])
    row = OutboxMessage.objects.get()
    assert before <= row.scheduled_at <= dt.datetime.now(dt.UTC)


@contextmanager
def no_wake_up() -> Iterator[None]:
    """Queueing outside a test transaction would dispatch (sync django-q) on commit."""
    messages_queued.disconnect(dispatch_uid="oneonone_wake")
    try:
        yield
    finally:
        messages_queued.connect(on_messages_queued, dispatch_uid="oneonone_wake")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_queueing_the_same_rows_count_each_row_once() -> None:
    people = [Contact.objects.create(email=f"r{i}@example.com") for i in range(600)]
    items = [QueuedMessage(c.pk, "campaign", "8", MessageKind.MARKETING) for c in people]
    counts: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(3)

    def worker() -> None:
        start.wait()
        created = queue_messages(items, batch_size=50)
        with lock:
            counts.append(created)
        connection.close()

    with no_wake_up():
        threads = [threading.Thread(target=worker) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(counts) == len(people)
    assert OutboxMessage.objects.count() == len(people)
