"""The outbox state machine: queue, claim with a lease, and record each outcome.

queued → claimed (lease) → sent | failed | skipped | unknown; a claimed message whose lease
expires goes back to queued if it never reached the backend, and to unknown if it may have.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Field
from django.utils import timezone

from ..conf import app_settings
from ..models import Contact, Event, OutboxMessage, OutboxStatus, SentContent
from ..signals import messages_queued


@dataclass(frozen=True)
class QueuedMessage:
    """One message to queue (see :func:`queue_messages`)."""

    contact_id: int
    source_type: str
    source_id: str
    kind: str
    occurrence: str = ""
    scheduled_at: dt.datetime | None = None
    trigger_event_id: int | None = None
    context: dict[str, Any] | None = None


def idempotency_key(source_type: str, source_id: str, contact_id: int, occurrence: str) -> str:
    """Contact + source + occurrence: the same intended email always gets the same key."""
    return f"{source_type}:{source_id}:{contact_id}:{occurrence}"[:255]


def queue_message(
    contact: Contact,
    *,
    source_type: str,
    source_id: str | int,
    kind: str,
    occurrence: str = "",
    scheduled_at: dt.datetime | None = None,
    trigger_event: Event | None = None,
    context: dict[str, Any] | None = None,
) -> tuple[OutboxMessage, bool]:
    """Queue one email; returns (message, created). Queuing the same one twice is a no-op."""
    key = idempotency_key(source_type, str(source_id), contact.pk, occurrence)
    existing = OutboxMessage.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                contact=contact,
                source_type=source_type,
                source_id=str(source_id),
                idempotency_key=key,
                kind=kind,
                scheduled_at=scheduled_at or timezone.now(),
                trigger_event=trigger_event,
                context=context or {},
            )
    except IntegrityError:
        return OutboxMessage.objects.get(idempotency_key=key), False
    _announce()
    return message, True


def queue_messages(messages: Iterable[QueuedMessage], *, batch_size: int = 1000) -> int:
    """Queue many emails in bulk; duplicates of earlier ones are ignored.

    Returns how many rows were new: each batch is one ``INSERT … ON CONFLICT
    (idempotency_key) DO NOTHING`` whose row count says how many it wrote, so a row another
    process queued first (or one repeated in ``messages``) is not counted. ``messages`` is
    read a batch at a time, so it can stream from the database.

    Rows are written without model instances (the ORM's per-field preparation cost 20 times
    what the database did): the columns ``QueuedMessage`` sets are prepared here, every
    other column takes its field's default, prepared once.
    """
    writer = _OutboxWriter(timezone.now())
    created = 0
    batch: list[tuple[Any, ...]] = []
    for item in messages:
        batch.append(writer.row(item))
        if len(batch) >= batch_size:
            created += writer.write(batch)
            batch.clear()
    if batch:
        created += writer.write(batch)
    if created:
        _announce()
    return created


#: The outbox columns a :class:`QueuedMessage` sets, in the order of :meth:`_OutboxWriter.row`.
_QUEUED_FIELDS = (
    "contact",
    "source_type",
    "source_id",
    "idempotency_key",
    "kind",
    "scheduled_at",
    "trigger_event",
    "context",
)


class _OutboxWriter:
    """Turns :class:`QueuedMessage`s into outbox rows and inserts them, a batch a statement."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.postgresql = connection.vendor == "postgresql"
        meta = OutboxMessage._meta
        queued = [_field(name) for name in _QUEUED_FIELDS]
        defaults = OutboxMessage()
        others = [
            field
            for field in meta.concrete_fields
            if field not in queued and not field.primary_key and not field.generated
        ]
        # The rest as a new row gets them (created_at and updated_at now), once for all rows.
        self.constants = [
            field.get_db_prep_save(field.pre_save(defaults, add=True), connection)
            for field in others
        ]
        self.queued_columns = [field.column for field in queued]
        self.other_columns = [field.column for field in others]
        self.db_types = {
            field.column: str(field.db_type(connection)).split("(")[0]
            for field in [*queued, *others]
        }
        self.encoder = _field("context").encoder  # type: ignore[attr-defined]
        self.scheduled_field = _field("scheduled_at")
        self.times: dict[dt.datetime, Any] = {}  # send times seen, prepared for the database
        self.empty_context = self.json({})
        self.statements: dict[tuple[bool, ...], str] = {}

    def json(self, value: Any) -> str:
        # What JSONField writes (Django's adapt_json_value), as text.
        return json.dumps(value, cls=self.encoder)

    def row(self, item: QueuedMessage) -> tuple[Any, ...]:
        source_type, source_id, kind = item.source_type, item.source_id, item.kind
        if type(source_type) is not str or type(source_id) is not str or type(kind) is not str:
            source_type, source_id, kind = str(source_type), str(source_id), str(kind)
        scheduled_at = item.scheduled_at or self.now
        when = self.times.get(scheduled_at)
        if when is None:
            when = self.scheduled_field.get_db_prep_save(scheduled_at, connection)
            if len(self.times) < 10_000:
                self.times[scheduled_at] = when
        return (
            item.contact_id,
            source_type,
            source_id,
            idempotency_key(source_type, source_id, item.contact_id, item.occurrence),
            kind,
            when,
            item.trigger_event_id,
            self.json(item.context) if item.context else self.empty_context,
        )

    def write(self, rows: list[tuple[Any, ...]]) -> int:
        """Insert ``rows``; returns how many were new (the statement's row count)."""
        # One transaction a batch (SQLite would otherwise commit every row of executemany).
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            if self.postgresql:
                self._write_postgresql(cursor, rows)
            else:
                # One prepared INSERT run for each row, in C.
                cursor.executemany(self._sqlite_sql(), [(*row, *self.constants) for row in rows])
            return max(cursor.rowcount, 0)

    def _write_postgresql(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        """One statement whatever the batch's size: a column the same in every row (the
        source, the kind; the send time of most campaigns) is one parameter, the others an
        array each, unnested. Arrays go as text literals: psycopg's list adapter cost
        more than the rest of queueing."""
        columns = list(zip(*rows, strict=True))
        uniform = tuple(column.count(column[0]) == len(column) for column in columns)
        sql = self.statements.get(uniform)
        if sql is None:
            sql = self.statements[uniform] = self._postgresql_sql(uniform)
        pairs = list(zip(columns, uniform, strict=True))
        # In the statement's order: the select list's single values, then the arrays.
        cursor.execute(
            sql,
            [
                *(column[0] for column, same in pairs if same),
                *self.constants,
                *(_array_literal(column) for column, same in pairs if not same),
            ],
        )

    def _postgresql_sql(self, uniform: tuple[bool, ...]) -> str:
        quote = connection.ops.quote_name
        select, arrays, names = [], [], []
        for column, same in zip(self.queued_columns, uniform, strict=True):
            db_type = self.db_types[column]
            if same:
                select.append(f"%s::{db_type}")
                continue
            # jsonb arrives as text: a jsonb[] literal would need its elements quoted twice.
            element = "text" if db_type == "jsonb" else db_type
            arrays.append(f"%s::{element}[]")
            names.append(quote(column))
            select.append(f"v.{quote(column)}::{db_type}")
        select += [f"%s::{self.db_types[column]}" for column in self.other_columns]
        columns = ", ".join(quote(c) for c in [*self.queued_columns, *self.other_columns])
        # With no arrays every row is the same message: one row, without FROM.
        rows = f" FROM unnest({', '.join(arrays)}) AS v ({', '.join(names)})" if arrays else ""
        return (
            f"INSERT INTO {quote(OutboxMessage._meta.db_table)} ({columns}) "
            f"SELECT {', '.join(select)}{rows} "
            f"ON CONFLICT ({quote('idempotency_key')}) DO NOTHING"
        )

    def _sqlite_sql(self) -> str:
        sql = self.statements.get(())
        if sql is None:
            quote = connection.ops.quote_name
            columns = [*self.queued_columns, *self.other_columns]
            sql = self.statements[()] = (
                f"INSERT INTO {quote(OutboxMessage._meta.db_table)} "
                f"({', '.join(quote(c) for c in columns)}) "
                f"VALUES ({', '.join(['%s'] * len(columns))}) "
                f"ON CONFLICT ({quote('idempotency_key')}) DO NOTHING"
            )
        return sql


def _array_literal(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal (``{1,NULL,"a\\"b"}``) of ints, strings and datetimes."""
    parts = []
    others: dict[Any, str] = {}  # a batch's send times are a few values, many times over
    for value in values:
        if value is None:
            parts.append("NULL")
        elif type(value) is int:
            parts.append(str(value))
        elif type(value) is str:
            parts.append(_quoted(value))
        else:
            text = others.get(value)
            if text is None:
                text = others[value] = _quoted(
                    value.isoformat() if isinstance(value, dt.datetime) else str(value)
                )
            parts.append(text)
    return "{" + ",".join(parts) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _announce() -> None:
    # Receivers (tasks) wake the dispatcher once the rows are committed.
    transaction.on_commit(lambda: messages_queued.send(sender=OutboxMessage))


def claim_due_messages(
    now: dt.datetime, *, limit: int, worker: str, kinds: Sequence[str] | None = None
) -> list[int]:
    """Claim up to ``limit`` due messages for ``worker`` under a lease; returns their ids.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers never wait for or share a row.
    SQLite has one writer at a time; the conditional update below keeps a row from being
    claimed twice even so (use ``"transaction_mode": "IMMEDIATE"`` in its OPTIONS).
    """
    token = f"{worker}:{uuid.uuid4().hex[:12]}"[:100]
    lease = now + dt.timedelta(seconds=int(app_settings.LEASE_SECONDS))
    with transaction.atomic():
        due = OutboxMessage.objects.due(now)
        if kinds is not None:
            due = due.filter(kind__in=kinds)
        ids = list(
            due.order_by("scheduled_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        OutboxMessage.objects.filter(id__in=ids, status=OutboxStatus.QUEUED).update(
            status=OutboxStatus.CLAIMED,
            claimed_by=token,
            lease_expires_at=lease,
            handed_off_at=None,
        )
        return list(
            OutboxMessage.objects.filter(id__in=ids, claimed_by=token)
            .order_by("scheduled_at", "id")
            .values_list("id", flat=True)
        )


def _finish(message_id: int, worker_token: str, **fields: Any) -> bool:
    """Record an outcome, only if this worker still holds the claim."""
    return bool(
        OutboxMessage.objects.filter(
            pk=message_id, status=OutboxStatus.CLAIMED, claimed_by=worker_token
        ).update(lease_expires_at=None, **fields)
    )


def mark_handed_off(message: OutboxMessage, now: dt.datetime) -> bool:
    """Commit that the message is about to reach the backend; False if the claim was lost."""
    return bool(mark_handed_off_many([message], now))


def mark_handed_off_many(
    messages: Sequence[OutboxMessage], now: dt.datetime
) -> list[OutboxMessage]:
    """Mark messages as about to reach the backend, in one UPDATE; returns those still claimed.

    Only rows still claimed by the worker that loaded them are updated; a message whose
    claim was lost (its lease expired and another run took over) is left out. Once this
    commits, a worker that dies leaves these messages ``unknown``: never resent blindly.
    """
    if not messages:
        return []
    ids = [message.pk for message in messages]
    tokens = {message.claimed_by for message in messages}
    mine = OutboxMessage.objects.filter(
        pk__in=ids, status=OutboxStatus.CLAIMED, claimed_by__in=tokens
    )
    with transaction.atomic(savepoint=False):
        updated = mine.update(handed_off_at=now, attempts=F("attempts") + 1)
        if updated == len(ids) and len(tokens) == 1:
            handed = list(messages)  # the usual case: every claim held
        else:
            # The rows just updated stay locked until the commit, so these are exactly them.
            held = set(mine.values_list("pk", "claimed_by"))
            handed = [message for message in messages if (message.pk, message.claimed_by) in held]
    for message in handed:
        message.handed_off_at = now
        message.attempts += 1
    return handed


def mark_sent(
    message: OutboxMessage,
    *,
    now: dt.datetime,
    esp_message_id: str,
    message_id_header: str,
    subject: str,
) -> bool:
    """Record one message as sent; False if this worker no longer holds its claim."""
    sent = SentMessage(message, now, esp_message_id, message_id_header, subject)
    return bool(mark_sent_many([sent]))


#: What :class:`SentMessage` says about each message, one column of the outbox each.
_SENT_FIELDS = ("sent_at", "esp_message_id", "message_id_header", "subject")


@dataclass(frozen=True)
class SentMessage:
    """A message the email backend accepted, and what it said (see :func:`mark_sent_many`)."""

    message: OutboxMessage
    sent_at: dt.datetime
    esp_message_id: str
    message_id_header: str
    subject: str


def mark_sent_many(sent: Sequence[SentMessage]) -> list[SentMessage]:
    """Record messages this worker handed off as sent, in one statement; returns those kept.

    A message whose claim was lost (its lease expired and another run took over, or the
    sweep marked it unknown) is left as it is and left out. Each message is recorded once:
    one already recorded as sent would be taken for a claim still held.
    """
    if not sent:
        return []
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        _update_sent(cursor, sent)
        if cursor.rowcount == len(sent):
            return list(sent)  # the usual case: every claim held
        if cursor.rowcount == 0:
            return []
        # The rows just updated stay locked until the commit, so these are exactly them.
        held = set(
            OutboxMessage.objects.filter(
                pk__in=[item.message.pk for item in sent], status=OutboxStatus.SENT
            ).values_list("pk", "claimed_by")
        )
    return [item for item in sent if (item.message.pk, item.message.claimed_by) in held]


def _update_sent(cursor: Any, sent: Sequence[SentMessage]) -> None:
    """Mark the rows sent where their worker still holds the claim (``cursor.rowcount``)."""
    quote = connection.ops.quote_name
    table = quote(OutboxMessage._meta.db_table)
    names = ("id", "status", "claimed_by", "lease_expires_at", "last_error", *_SENT_FIELDS)
    column = {name: quote(_field(name).column) for name in names}
    # What every row gets, then what each row gets, and the claim each must still have.
    every = {"status": OutboxStatus.SENT, "lease_expires_at": None, "last_error": ""}
    common = ", ".join(f"{column[name]} = %s" for name in every)
    common_params = [_db_value(name, value) for name, value in every.items()]
    claimed = _db_value("status", OutboxStatus.CLAIMED)
    rows = [
        (
            item.message.pk,
            *(_db_value(name, getattr(item, name)) for name in _SENT_FIELDS),
            item.message.claimed_by,
        )
        for item in sent
    ]
    if connection.vendor == "postgresql":
        # One UPDATE joined to the rows' values: run once per row, PostgreSQL parses, plans
        # and answers each on its own, which took three times as long.
        joined = ("id", *_SENT_FIELDS, "claimed_by")
        row_sql = "(" + ", ".join(f"%s::{_db_type(name)}" for name in joined) + ")"
        cursor.execute(
            f"UPDATE {table} SET {common}, "
            + ", ".join(f"{column[name]} = v.{column[name]}" for name in _SENT_FIELDS)
            + f" FROM (VALUES {', '.join([row_sql] * len(rows))})"
            + f" AS v ({', '.join(column[name] for name in joined)})"
            + f" WHERE {table}.{column['id']} = v.{column['id']}"
            + f" AND {table}.{column['status']} = %s"
            + f" AND {table}.{column['claimed_by']} = v.{column['claimed_by']}",
            [*common_params, *(value for row in rows for value in row), claimed],
        )
    else:
        cursor.executemany(
            f"UPDATE {table} SET {common}, "
            + ", ".join(f"{column[name]} = %s" for name in _SENT_FIELDS)
            + f" WHERE {column['id']} = %s AND {column['status']} = %s"
            + f" AND {column['claimed_by']} = %s",
            [[*common_params, *values, pk, claimed, token] for pk, *values, token in rows],
        )


def _field(name: str) -> Field[Any, Any]:
    field = OutboxMessage._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _db_value(name: str, value: Any) -> Any:
    """``value`` as the database takes it for the outbox's column ``name`` (strings cut)."""
    field = _field(name)
    if isinstance(value, str) and field.max_length:
        value = value[: field.max_length]
    return field.get_db_prep_save(value, connection)


def _db_type(name: str) -> str:
    """The column's type for a cast, without a length (``varchar``, not ``varchar(255)``)."""
    return str(_field(name).db_type(connection)).split("(")[0]


def store_sent_content(contents: Sequence[SentContent]) -> None:
    """Keep what was handed to the backend, one INSERT run for each row (``executemany``).

    ``bulk_create`` on PostgreSQL sends each column as one array, and quoting a batch of
    HTML bodies inside array literals costs the worker three times the CPU of this.
    """
    if not contents:
        return
    meta = SentContent._meta
    fields = [field for field in meta.concrete_fields if not field.generated]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
    )
    rows = [
        [field.get_db_prep_save(field.pre_save(content, add=True), connection) for field in fields]
        for content in contents
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def mark_skipped(message: OutboxMessage, reason: str) -> bool:
    return _finish(
        message.pk, message.claimed_by, status=OutboxStatus.SKIPPED, skip_reason=reason[:200]
    )


def mark_failed(message: OutboxMessage, error: str, *, subject: str = "") -> bool:
    fields: dict[str, Any] = {
        "status": OutboxStatus.FAILED,
        "last_error": error[:10_000],
        "attempts": message.attempts,
    }
    if subject:
        fields["subject"] = subject[:998]
    return _finish(message.pk, message.claimed_by, **fields)


def mark_deferred(message: OutboxMessage, until: dt.datetime, reason: str = "") -> bool:
    """Back to the queue for later (quiet hours); no attempt is counted."""
    return _finish(
        message.pk,
        message.claimed_by,
        status=OutboxStatus.QUEUED,
        scheduled_at=until,
        claimed_by="",
        handed_off_at=None,
        skip_reason=reason[:200],
    )


def mark_for_retry(message: OutboxMessage, error: str, *, now: dt.datetime) -> bool:
    """A transient failure: retry with exponential backoff, or fail after the last attempt."""
    if message.attempts >= int(app_settings.MAX_SEND_ATTEMPTS):
        return mark_failed(message, f"gave up after {message.attempts} attempts: {error}")
    delay = int(app_settings.RETRY_BACKOFF_SECONDS) * 2 ** max(0, message.attempts - 1)
    return _finish(
        message.pk,
        message.claimed_by,
        status=OutboxStatus.QUEUED,
        scheduled_at=now + dt.timedelta(seconds=delay),
        claimed_by="",
        handed_off_at=None,
        last_error=error[:10_000],
        attempts=message.attempts,
    )


def mark_not_sent(message: OutboxMessage, error: str, *, now: dt.datetime) -> bool:
    """Handed off, but the backend was never called (it became unreachable): no attempt used."""
    if message.handed_off_at is not None:
        message.handed_off_at = None
        message.attempts -= 1
    return mark_for_retry(message, error, now=now)


def sweep_expired_leases(now: dt.datetime) -> tuple[int, int]:
    """Reclaim leases of dead workers: (requeued, marked unknown).

    A message that never reached the backend is queued again; one that may have reached it
    is marked unknown and never resent blindly.
    """
    expired = OutboxMessage.objects.expired_leases(now)
    unknown = expired.filter(handed_off_at__isnull=False).update(
        status=OutboxStatus.UNKNOWN,
        lease_expires_at=None,
        last_error="the worker stopped after handing the message to the email backend",
    )
    requeued = expired.filter(handed_off_at__isnull=True).update(
        status=OutboxStatus.QUEUED, lease_expires_at=None, claimed_by=""
    )
    return requeued, unknown
