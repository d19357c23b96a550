"""Enrolling contacts: new events read from a cursor over the log, matched to active flows.

Runs in the worker (never in the host's request). Reading is idempotent: an enrollment's
key names the flow, the contact and the occurrence, so a batch read twice (a retried
task, two workers, the overlap below) enrolls no one twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ..models import Enrollment, Event, Flow, FlowCursor, FlowStatus, Reentry, TriggerType
from ..segments import members_among
from ..segments.builtins import matching_events
from ..segments.compiler import compile_context
from ..segments.conditions import CompileContext

EVENTS_CURSOR = "events"
#: Events per run of the matcher.
MATCH_BATCH_SIZE = 5000
#: Events recorded this recently are read again next run: a transaction that committed
#: late may hold a smaller id than events already read.
OVERLAP = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class MatchResult:
    events: int = 0
    enrolled: int = 0


@dataclass(frozen=True)
class _Seen:
    id: int
    type: str
    contact_id: int
    occurred_at: dt.datetime


def enrollment_key(flow: Flow, contact_id: int, event_id: int | None) -> str:
    """The same trigger always gives the same key (a replay is a no-op)."""
    occurrence = "once" if flow.reentry == Reentry.ONCE else f"event-{event_id}"
    return f"flow:{flow.pk}:{contact_id}:{occurrence}"


def match_new_events(
    *, now: dt.datetime | None = None, limit: int = MATCH_BATCH_SIZE
) -> MatchResult:
    """Read events after the cursor, enroll the contacts they trigger, move the cursor."""
    now = now or timezone.now()
    with transaction.atomic():
        FlowCursor.objects.get_or_create(name=EVENTS_CURSOR)
        cursor = FlowCursor.objects.select_for_update().get(name=EVENTS_CURSOR)
        rows = list(
            Event.objects.filter(pk__gt=cursor.last_event_id)
            .order_by("pk")
            .values_list("pk", "type", "contact_id", "occurred_at", "recorded_at")[:limit]
        )
        if not rows:
            return MatchResult()
        seen = [_Seen(pk, kind, contact, at) for pk, kind, contact, at, _ in rows if contact]
        enrolled = enroll_for_events(seen, now=now)
        settled = [pk for pk, *_, recorded in rows if recorded <= now - OVERLAP]
        # Move past what is settled; a full batch is read on regardless (its tail is newer).
        cursor.last_event_id = (
            rows[-1][0] if len(rows) == limit else max(settled, default=cursor.last_event_id)
        )
        cursor.save(update_fields=["last_event_id", "updated_at"])
    return MatchResult(events=len(rows), enrolled=enrolled)


def enroll_for_events(events: Sequence[_Seen], *, now: dt.datetime) -> int:
    """Enroll the contacts these events trigger into the active event flows."""
    flows_by_type: dict[str, list[Flow]] = defaultdict(list)
    for flow in Flow.objects.filter(status=FlowStatus.ACTIVE, trigger_type=TriggerType.EVENT):
        flows_by_type[flow.trigger_event_type].append(flow)
    new: list[Enrollment] = []
    for event_type, flows in flows_by_type.items():
        of_type = [event for event in events if event.type == event_type]
        if not of_type:
            continue
        for flow in flows:
            new += _enrollments(flow, of_type, now)
    if not new:
        return 0
    keys = [enrollment.key for enrollment in new]
    before = set(Enrollment.objects.filter(key__in=keys).values_list("key", flat=True))
    Enrollment.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    return len(set(keys) - before)


def _enrollments(flow: Flow, events: list[_Seen], now: dt.datetime) -> list[Enrollment]:
    context = compile_context(now)
    triggering = events
    if flow.trigger_filters:
        passing = set(
            matching_events(flow.trigger_event_type, context, filters=flow.trigger_filters)
            .filter(pk__in=[event.id for event in events])
            .values_list("pk", flat=True)
        )
        triggering = [event for event in events if event.id in passing]
    if flow.trigger_count > 1:
        triggering = _nth_occurrences(flow, triggering, context)
    if flow.entry_segment is not None:
        members = members_among(
            flow.entry_segment, {event.contact_id for event in triggering}, now=now
        )
        triggering = [event for event in triggering if event.contact_id in members]
    if flow.reentry == Reentry.EVERY_N_DAYS:
        triggering = _outside_reentry_window(flow, triggering)
    chosen: dict[str, _Seen] = {}
    for event in triggering:
        chosen.setdefault(enrollment_key(flow, event.contact_id, event.id), event)
    return [
        Enrollment(
            flow=flow,
            contact_id=event.contact_id,
            key=key,
            trigger_event_id=event.id,
            entered_at=min(event.occurred_at, now),
            next_run_at=min(event.occurred_at, now),
        )
        for key, event in chosen.items()
    ]


def _nth_occurrences(flow: Flow, events: list[_Seen], context: CompileContext) -> list[_Seen]:
    """Events that bring their contact's count (within the window) to ``trigger_count``."""
    window = dt.timedelta(hours=flow.trigger_window_hours or 24 * 365 * 10)
    contacts = {event.contact_id for event in events}
    if not contacts:
        return []
    earliest = min(event.occurred_at for event in events) - window
    history: dict[int, list[dt.datetime]] = defaultdict(list)
    for contact_id, at in (
        matching_events(flow.trigger_event_type, context, filters=flow.trigger_filters or ())
        .filter(contact_id__in=contacts, occurred_at__gte=earliest)
        .values_list("contact_id", "occurred_at")
    ):
        history[contact_id].append(at)
    return [
        event
        for event in events
        if sum(
            event.occurred_at - window < at <= event.occurred_at
            for at in history[event.contact_id]
        )
        >= flow.trigger_count
    ]


def _outside_reentry_window(flow: Flow, events: Iterable[_Seen]) -> list[_Seen]:
    """Drop events of contacts who entered the flow less than ``reentry_days`` before."""
    days = dt.timedelta(days=flow.reentry_days or 0)
    events = list(events)
    last_entry: dict[int, dt.datetime] = {}
    for contact_id, entered in Enrollment.objects.filter(
        flow=flow, contact_id__in={event.contact_id for event in events}
    ).values_list("contact_id", "entered_at"):
        last_entry[contact_id] = max(entered, last_entry.get(contact_id, entered))
    kept = []
    for event in sorted(events, key=lambda event: event.occurred_at):
        previous = last_entry.get(event.contact_id)
        if previous is None or event.occurred_at - previous >= days:
            kept.append(event)
            last_entry[event.contact_id] = event.occurred_at
    return kept
