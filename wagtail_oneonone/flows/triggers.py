"""Enrolling contacts: new events read from a cursor over the log, matched to active flows;
and ending, as soon as the log shows it, the enrollments whose goal event happened.

Runs in the worker (never in the host's request). Reading is idempotent: an enrollment's
key names the flow, the contact and the occurrence, so a batch read twice (a retried
task, two workers, an id looked for again) enrolls no one twice, and an enrollment that
has ended is not ended again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, TypeVar

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from ..campaigns.schedule import local_instant
from ..models import (
    Contact,
    Enrollment,
    EnrollmentStatus,
    Event,
    Flow,
    FlowCursor,
    FlowMembership,
    FlowStatus,
    Reentry,
    TriggerType,
)
from ..segments import contacts_matching, segment_contacts
from ..segments.builtins import lifecycle_settings, matching_events
from ..segments.compiler import compile_context
from ..segments.conditions import CompileContext
from ..sending.decision import contact_zone
from .broken import pause_broken_flow
from .bulk import Among, insert_rows
from .goals import goals_reached
from .services import end_at_goal

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

EVENTS_CURSOR = "events"
#: Events per run of the matcher.
MATCH_BATCH_SIZE = 5000
#: How long an id skipped by the cursor is looked for again: a transaction that commits
#: late holds a smaller id than events already read. Ids used up by failed inserts never
#: appear, so they are given up on after this.
GAP_WAIT = dt.timedelta(minutes=2)
MAX_GAPS = 10_000


@dataclass(frozen=True)
class MatchResult:
    events: int = 0
    enrolled: int = 0
    reached_goal: int = 0  # enrollments ended because the events read were their goal


class _Seen(NamedTuple):
    """One trigger firing for one contact: an event, entering a set, a date coming round."""

    id: int | None  # the event's, if an event triggered it
    type: str
    contact_id: int
    occurred_at: dt.datetime
    occurrence: str = ""  # what makes it this firing and no other ("event-12", "date-...")
    due_at: dt.datetime | None = None  # when its first step runs (a date trigger's time)

    @property
    def key_part(self) -> str:
        return self.occurrence or f"event-{self.id}"


def enrollment_key(flow: Flow, contact_id: int, occurrence: str) -> str:
    """The same trigger always gives the same key (a replay is a no-op)."""
    part = "once" if flow.reentry == Reentry.ONCE else occurrence
    return f"flow:{flow.pk}:{contact_id}:{part}"


def match_new_events(
    *,
    now: dt.datetime | None = None,
    limit: int = MATCH_BATCH_SIZE,
    max_seconds: float = 40.0,
) -> MatchResult:
    """Read events after the cursor, enroll the contacts they trigger, end the enrollments
    whose goal they are, move the cursor; batch after batch until the log is read or
    ``max_seconds`` have passed."""
    now = now or timezone.now()
    deadline = time.monotonic() + max_seconds
    events = enrolled = reached = 0
    while True:
        read, new, ended, more = _match_batch(now, limit)
        events, enrolled, reached = events + read, enrolled + new, reached + ended
        if not more or time.monotonic() > deadline:
            return MatchResult(events=events, enrolled=enrolled, reached_goal=reached)


def _match_batch(now: dt.datetime, limit: int) -> tuple[int, int, int, bool]:
    """One batch: (events read, contacts enrolled, enrollments ended at their goal, whether
    more may be waiting)."""
    wall = timezone.now()  # gaps are about commits, so they go by the real clock
    with transaction.atomic():
        FlowCursor.objects.get_or_create(name=EVENTS_CURSOR)
        cursor = FlowCursor.objects.select_for_update().get(name=EVENTS_CURSOR)
        gaps = {int(pk): str(since) for pk, since in cursor.gaps or []}
        columns = ("pk", "type", "contact_id", "occurred_at")
        rows = list(
            Event.objects.filter(pk__gt=cursor.last_event_id)
            .order_by("pk")
            .values_list(*columns)[:limit]
        )
        if gaps:
            rows += list(Event.objects.filter(Among("pk", list(gaps))).values_list(*columns))
        seen = [_Seen(pk, kind, contact, at) for pk, kind, contact, at in rows if contact]
        enrolled = enroll_for_events(seen, now=now)
        # After enrolling: a cart and an order read together end the new enrollment too.
        ended = end_reached_goals(seen, now=now)
        read = {row[0] for row in rows}
        top = max((pk for pk in read if pk > cursor.last_event_id), default=cursor.last_event_id)
        missing: list[int] = []
        ahead = sorted(pk for pk in read if pk > cursor.last_event_id)
        previous = cursor.last_event_id
        if previous == 0 and ahead:
            previous = ahead[0] - 1  # a new cursor: the log starts where it starts
        for pk in ahead:
            if pk - previous > 1:  # (a jump of millions is capped, not listed)
                missing.extend(range(max(previous + 1, pk - MAX_GAPS), pk))
            previous = pk
        missing = missing[-MAX_GAPS:]
        horizon = (wall - GAP_WAIT).isoformat()
        kept = {pk: since for pk, since in gaps.items() if pk not in read and since > horizon}
        kept.update({pk: wall.isoformat() for pk in missing})
        cursor.gaps = sorted([pk, since] for pk, since in kept.items())[-MAX_GAPS:]
        cursor.last_event_id = top
        cursor.save(update_fields=["last_event_id", "gaps", "updated_at"])
    return len(rows), enrolled, ended, top > 0 and len(read) >= limit


def enroll_for_events(events: Sequence[_Seen], *, now: dt.datetime) -> int:
    """Enroll the contacts these events trigger into the active event flows."""
    flows_by_type: dict[str, list[Flow]] = defaultdict(list)
    for flow in Flow.objects.filter(status=FlowStatus.ACTIVE, trigger_type=TriggerType.EVENT):
        flows_by_type[flow.trigger_event_type].append(flow)
    by_type: dict[str, list[_Seen]] = defaultdict(list)
    for event in events:
        by_type[event.type].append(event)
    new: list[_NewEnrollment] = []
    for event_type, flows in flows_by_type.items():
        of_type = by_type.get(event_type)
        if not of_type:
            continue
        for flow in flows:
            new += _or_pause(flow, now, partial(_enrollments, flow, of_type, now), [])
    return _save_enrollments(new)


def _or_pause(flow: Flow, now: dt.datetime, work: Callable[[], _T], failed: _T) -> _T:
    """``work()`` for one flow, in a savepoint; if it raises, the flow pauses itself with
    the reason on its page (``pause_broken_flow``) and ``failed`` stands in: one flow
    whose trigger no longer evaluates must not stop the others, run after run."""
    try:
        with transaction.atomic():
            return work()
    except Exception as exc:
        pause_broken_flow(flow, exc, now=now)
        return failed


def end_reached_goals(events: Sequence[_Seen], *, now: dt.datetime) -> int:
    """End the enrollments whose flow's goal event is among these events, as soon as the
    log is read, rather than when their next step comes due; returns how many ended.

    Enrollments still in active or paused flows (a pause holds what the flow does, not
    what the contact does: the goal already stops a paused flow's queued emails at send
    time), of the events' contacts, in flows whose goal is one of the events' types, are
    asked :func:`goals_reached` (the goal's filters, after entering); those that reached
    it end as advancing ends them (``services.end_at_goal``). One a worker holds (its lease
    not over) is skipped, as is, on PostgreSQL, one locked by a worker claiming it right
    now: advancing checks the goal itself when it comes due. A goal of leaving a segment
    is not an event: it is checked when a step comes due, as before.

    Queries for a batch: the flows, the enrollments, one a flow for its goal events, and
    two writes (positions, log lines), whatever the number of events and contacts. This
    is a shortcut, not the guarantee (the goal is checked again when due and at send
    time): if it fails, the batch is enrolled and the cursor moves all the same.
    """
    contacts_by_type: dict[str, set[int]] = defaultdict(set)
    for event in events:
        contacts_by_type[event.type].add(event.contact_id)
    if not contacts_by_type:
        return 0
    try:
        with transaction.atomic():
            return _end_reached_goals(contacts_by_type, now)
    except Exception:
        logger.warning("Ending enrollments at their goal failed; left for when due", exc_info=True)
        return 0


def _end_reached_goals(contacts_by_type: dict[str, set[int]], now: dt.datetime) -> int:
    flows = {
        flow.pk: flow
        for flow in Flow.objects.filter(
            status__in=[FlowStatus.ACTIVE, FlowStatus.PAUSED],
            goal_event_type__in=list(contacts_by_type),
        )
    }
    if not flows:
        return 0
    flows_by_type: dict[str, list[int]] = defaultdict(list)
    for flow in flows.values():
        flows_by_type[flow.goal_event_type].append(flow.pk)
    of_contacts = Q()
    for event_type, flow_ids in flows_by_type.items():
        of_contacts |= Q(Among("contact_id", contacts_by_type[event_type]), flow_id__in=flow_ids)
    candidates = list(
        Enrollment.objects.filter(
            of_contacts,
            Q(lease_until__isnull=True) | Q(lease_until__lt=now),
            status=EnrollmentStatus.ACTIVE,
        )
        .order_by("id")
        .select_for_update(skip_locked=True, of=("self",))
    )
    for enrollment in candidates:
        enrollment.flow = flows[enrollment.flow_id]
    broken: dict[int, Exception] = {}
    reached = goals_reached(candidates, now=now, left_segment=False, broken=broken)
    for flow_id, error in broken.items():
        pause_broken_flow(flows[flow_id], error, now=now, part="goal")
    return end_at_goal([e for e in candidates if e.pk in reached], now=now)


class _NewEnrollment(NamedTuple):
    """An enrollment to write: the fields a trigger sets (the rest take their defaults)."""

    flow: int
    contact: int
    key: str
    trigger_event: int | None
    entered_at: dt.datetime
    next_run_at: dt.datetime


def _save_enrollments(new: Sequence[_NewEnrollment]) -> int:
    """Insert the enrollments whose key is new; returns how many were (the row count of
    ``INSERT … ON CONFLICT (key) DO NOTHING``, so a key another worker wrote first, or
    one already there from an earlier read, is not counted)."""
    with transaction.atomic():
        return insert_rows(Enrollment, _NewEnrollment._fields, new, unique="key")


def _enrollments(flow: Flow, events: list[_Seen], now: dt.datetime) -> list[_NewEnrollment]:
    context = compile_context(now)
    triggering = events
    if flow.trigger_type == TriggerType.EVENT and flow.activated_at is not None:
        # Only what happened since the flow was turned on triggers it.
        triggering = [event for event in events if event.occurred_at >= flow.activated_at]
    if flow.trigger_filters and flow.trigger_type == TriggerType.EVENT:
        passing = set(
            matching_events(flow.trigger_event_type, context, filters=flow.trigger_filters)
            .filter(_pk_among([event.id for event in events if event.id is not None]))
            .values_list("pk", flat=True)
        )
        triggering = [event for event in events if event.id in passing]
    if flow.trigger_count > 1 and flow.trigger_type == TriggerType.EVENT:
        triggering = _nth_occurrences(flow, triggering, context)
    if flow.entry_segment is not None and triggering:
        # Which of them are members (as members_among(), the ids as one array parameter).
        members = set(
            segment_contacts(flow.entry_segment, now=now)
            .filter(Among("pk", {event.contact_id for event in triggering}))
            .values_list("pk", flat=True)
        )
        triggering = [event for event in triggering if event.contact_id in members]
    if flow.reentry == Reentry.EVERY_N_DAYS:
        triggering = _outside_reentry_window(flow, triggering)
    chosen: dict[str, _Seen] = {}
    for event in triggering:
        chosen.setdefault(enrollment_key(flow, event.contact_id, event.key_part), event)
    return [
        _NewEnrollment(
            flow.pk,
            event.contact_id,
            key,
            event.id,
            min(event.occurred_at, now),
            event.due_at or min(event.occurred_at, now),
        )
        for key, event in chosen.items()
    ]


def _pk_among(ids: Sequence[int]) -> Q:
    """``pk IN ids``; many ids close together (a batch of the log) as a range instead, as
    the caller keeps only its own ids of what comes back: a long list of parameters cost
    more to build and send than the rows the range adds."""
    ordered = sorted(set(ids))
    if len(ordered) <= 200:
        return Q(pk__in=ordered)
    top = ordered[-1]
    span = 4 * len(ordered) + 1000
    outliers = [pk for pk in ordered if top - pk > span]  # ids looked for again
    start = ordered[len(outliers)]
    q = Q(pk__gte=start, pk__lte=top)
    return q | Q(pk__in=outliers) if outliers else q


def _nth_occurrences(flow: Flow, events: list[_Seen], context: CompileContext) -> list[_Seen]:
    """Events that bring their contact's count (within the window) to ``trigger_count``."""
    window = dt.timedelta(hours=flow.trigger_window_hours or 24 * 365 * 10)
    contacts = {event.contact_id for event in events}
    if not contacts:
        return []
    earliest = min(event.occurred_at for event in events) - window
    latest = max(event.occurred_at for event in events)  # what came later counts for none
    history: dict[int, list[dt.datetime]] = defaultdict(list)
    for contact_id, at in (
        matching_events(flow.trigger_event_type, context, filters=flow.trigger_filters or ())
        .filter(Among("contact_id", contacts), occurred_at__gte=earliest, occurred_at__lte=latest)
        .values_list("contact_id", "occurred_at")
    ):
        history[contact_id].append(at)
    for times in history.values():
        times.sort()
    kept = []
    for event in events:
        times = history.get(event.contact_id, [])
        # Those in (occurred_at - window, occurred_at].
        within = bisect_right(times, event.occurred_at) - bisect_right(
            times, event.occurred_at - window
        )
        if within >= flow.trigger_count:
            kept.append(event)
    return kept


def _outside_reentry_window(flow: Flow, events: Iterable[_Seen]) -> list[_Seen]:
    """Drop events of contacts who entered the flow less than ``reentry_days`` before."""
    days = dt.timedelta(days=flow.reentry_days or 0)
    events = list(events)
    # Each contact's latest entry: one look into the (contact, flow, entered_at) index a
    # contact, whatever the planner knows of a table that grows fast while a backlog drains.
    latest = (
        Enrollment.objects.filter(flow_id=flow.pk, contact_id=OuterRef("pk"))
        .order_by("-entered_at")
        .values("entered_at")[:1]
    )
    last_entry: dict[int, dt.datetime] = {
        contact_id: entered
        for contact_id, entered in Contact.objects.filter(
            Among("pk", {event.contact_id for event in events})
        )
        .order_by()
        .annotate(last=Subquery(latest))
        .values_list("pk", "last")
        if entered is not None
    }
    kept = []
    for event in sorted(events, key=lambda event: event.occurred_at):
        previous = last_entry.get(event.contact_id)
        if previous is None or event.occurred_at - previous >= days:
            kept.append(event)
            last_entry[event.contact_id] = event.occurred_at
    return kept


# Entering a segment, engagement changes --------------------------------------------------------


def match_membership_triggers(*, now: dt.datetime | None = None) -> int:
    """Enroll contacts who entered a flow's segment (or engagement state) since its last
    look. A flow's first look only notes who is in: turning on "entered VIPs" does not
    enroll every VIP there already is."""
    now = now or timezone.now()
    enrolled = 0
    flows = Flow.objects.filter(
        status=FlowStatus.ACTIVE,
        trigger_type__in=[TriggerType.SEGMENT_ENTERED, TriggerType.ENGAGEMENT],
    )
    for flow in flows:
        enrolled += _or_pause(flow, now, partial(_enroll_entered, flow, now), 0)
    return enrolled


def _enroll_entered(flow: Flow, now: dt.datetime) -> int:
    locked = Flow.objects.select_for_update().filter(pk=flow.pk).first()
    if locked is None:
        return 0
    entered = _update_members(locked, now)
    enrolled = 0
    if locked.trigger_checked_at is not None and entered:
        seen = [
            _Seen(None, "entered", contact_id, now, occurrence=f"entered-{now:%Y%m%d%H%M%S}")
            for contact_id in sorted(entered)
        ]
        enrolled = _save_enrollments(_enrollments(locked, seen, now))
    Flow.objects.filter(pk=locked.pk).update(trigger_checked_at=now)
    return enrolled


def trigger_members(flow: Flow, now: dt.datetime) -> Any:
    """The contacts a segment or engagement trigger watches, as a queryset."""
    if flow.trigger_type == TriggerType.SEGMENT_ENTERED:
        if flow.trigger_segment is None:
            return Contact.objects.none()
        return segment_contacts(flow.trigger_segment, now=now)
    status = "dormant" if flow.trigger_engagement == "became_dormant" else "active"
    days = lifecycle_settings()["active_days"]
    tree = {"version": 1, "rules": {"condition": "activity", "status": status, "days": days}}
    return contacts_matching(tree, now=now)


def _update_members(flow: Flow, now: dt.datetime) -> set[int]:
    """Bring the flow's member snapshot up to date; returns who entered since."""
    current = set(trigger_members(flow, now).values_list("pk", flat=True))
    previous = set(FlowMembership.objects.filter(flow=flow).values_list("contact_id", flat=True))
    left = previous - current
    entered = current - previous
    if left:
        FlowMembership.objects.filter(flow=flow, contact_id__in=left).delete()
    FlowMembership.objects.bulk_create(
        [FlowMembership(flow=flow, contact_id=contact_id, since=now) for contact_id in entered],
        ignore_conflicts=True,
        batch_size=2000,
    )
    return entered


# Dates coming round --------------------------------------------------------------------------


def match_date_triggers(*, now: dt.datetime | None = None) -> int:
    """Enroll contacts whose birthday (or other date) comes round, due at the flow's local
    time on their own clock; each year's date enrolls once."""
    now = now or timezone.now()
    enrolled = 0
    for flow in Flow.objects.filter(status=FlowStatus.ACTIVE, trigger_type=TriggerType.DATE):
        enrolled += _or_pause(flow, now, partial(_enroll_dates, flow, now), 0)
    return enrolled


def _enroll_dates(flow: Flow, now: dt.datetime) -> int:
    return _save_enrollments(_enrollments(flow, list(_dates_coming_round(flow, now)), now))


def _dates_coming_round(flow: Flow, now: dt.datetime) -> Iterator[_Seen]:
    field = flow.trigger_date_field or "birthday"
    params: dict[str, Any] = {"condition": "anniversary", "field": field, "days": 0}
    if field == "attribute":
        params["attribute"] = flow.trigger_attribute
    # The site's yesterday to tomorrow (+ days before): every zone's today is in there.
    params["days"] = flow.trigger_days_before + 2
    candidates = contacts_matching({"version": 1, "rules": params}, now=now - dt.timedelta(days=1))
    at_time = flow.trigger_time or dt.time(10)
    for contact in candidates.only(
        "pk", "time_zone", "birthday", "customer_since", "created_at", "attributes"
    ):
        date = _date_of(contact, field, flow.trigger_attribute)
        if date is None:
            continue
        zone = contact_zone(contact)
        today = now.astimezone(zone).date()
        for year in (today.year - 1, today.year, today.year + 1):
            send_day = _anniversary(date, year) - dt.timedelta(days=flow.trigger_days_before)
            if abs((send_day - today).days) > 1:
                continue
            due = local_instant(send_day, at_time, zone)
            if due < now - dt.timedelta(hours=23):
                continue  # long past: missed while the worker was down, not sent a day late
            yield _Seen(None, "date", contact.pk, now, occurrence=f"date-{send_day}", due_at=due)


def _date_of(contact: Contact, field: str, attribute: str) -> dt.date | None:
    if field == "attribute":
        raw = (
            (contact.attributes or {}).get(attribute)
            if isinstance(contact.attributes, dict)
            else None
        )
        try:
            return dt.date.fromisoformat(str(raw)[:10]) if raw else None
        except ValueError:
            return None
    value = getattr(contact, field, None)
    if isinstance(value, dt.datetime):
        return value.astimezone(contact_zone(contact)).date()
    return value if isinstance(value, dt.date) else None


def _anniversary(date: dt.date, year: int) -> dt.date:
    """The date's day and month in ``year`` (29 February is the 28th in other years)."""
    try:
        return date.replace(year=year)
    except ValueError:
        return dt.date(year, 2, 28)
