"""Advancing enrollments in batches: load them, ask the engine, carry out, save.

Runs in the worker from the django-q2 schedule. Each due enrollment is claimed under a
lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never advance the same
one; each email step becomes at most one outbox row, whose key holds the enrollment and
the step, so a crash between queueing and saving sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from ..exceptions import SegmentRuleError
from ..models import (
    Contact,
    Enrollment,
    EnrollmentLog,
    EnrollmentStatus,
    Event,
    Flow,
    FlowStatus,
    MessageKind,
    OutboxMessage,
    Segment,
)
from ..segments import contacts_matching, is_member
from ..sending.decision import contact_zone
from ..sending.outbox import QueuedMessage, idempotency_key, queue_messages
from ..tracking.links import site_base_url
from . import engine
from .broken import pause_broken_flow
from .bulk import insert_rows, update_rows
from .content import FLOW_SOURCE, NOTIFY_SOURCE, step_source_id
from .goals import goals_reached
from .spec import find_block, spec_of

logger = logging.getLogger(__name__)

ADVANCE_BATCH_SIZE = 500
LEASE = dt.timedelta(minutes=5)


@dataclass
class AdvanceResult:
    advanced: int = 0
    sent: int = 0
    finished: int = 0
    errors: list[str] = field(default_factory=list)


def due_enrollments(now: dt.datetime) -> Any:
    return Enrollment.objects.filter(
        Q(next_run_at__isnull=True) | Q(next_run_at__lte=now),
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        status=EnrollmentStatus.ACTIVE,
        flow__status=FlowStatus.ACTIVE,
    )


def claim_due(now: dt.datetime, limit: int) -> list[int]:
    """Lease up to ``limit`` due enrollments; returns their ids (one worker each)."""
    with transaction.atomic():
        ids = list(
            due_enrollments(now)
            .order_by("next_run_at", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Enrollment.objects.filter(pk__in=ids).update(lease_until=now + LEASE)
    return ids


def advance_due(
    *, now: dt.datetime | None = None, limit: int = ADVANCE_BATCH_SIZE
) -> AdvanceResult:
    """Advance every due enrollment of active flows, a batch at a time."""
    now = now or timezone.now()
    result = AdvanceResult()
    while True:
        ids = claim_due(now, limit)
        if not ids:
            return result
        advance_batch(ids, now=now, result=result)
        if len(ids) < limit:
            return result


def advance_batch(
    ids: Sequence[int], *, now: dt.datetime, result: AdvanceResult | None = None
) -> AdvanceResult:
    """Advance these (claimed) enrollments: the engine decides for each, then what they
    do is written for the whole batch at once (outbox rows, log lines, new positions) in
    one transaction. If that fails, each is written on its own, so one broken enrollment
    stops none of the others."""
    result = result or AdvanceResult()
    loaded = list(Enrollment.objects.filter(pk__in=ids).select_related("contact").order_by("id"))
    # One instance a flow (its steps parsed once) and a contact (updates add up).
    flows = Flow.objects.in_bulk({enrollment.flow_id for enrollment in loaded})
    contacts: dict[int, Contact] = {}
    enrollments = []
    for enrollment in loaded:
        if enrollment.flow_id in flows:  # (not deleted since)
            enrollment.flow = flows[enrollment.flow_id]
            enrollment.contact = contacts.setdefault(enrollment.contact_id, enrollment.contact)
            enrollments.append(enrollment)
    specs: dict[int, engine.FlowSpec] = {}
    broken: dict[int, tuple[str, Exception]] = {}
    for flow in flows.values():
        try:
            specs[flow.pk] = spec_of(flow.steps)
        except Exception as exc:  # steps saved from code that make no sense
            broken[flow.pk] = ("steps", exc)
    failed_goals: dict[int, Exception] = {}
    reached = goals_reached(
        [e for e in enrollments if e.flow_id not in broken], now=now, broken=failed_goals
    )
    broken.update({flow_id: ("goal", error) for flow_id, error in failed_goals.items()})
    for flow_id, (part, error) in broken.items():
        _hold(flows[flow_id], error, part, enrollments, now, result)
    plans: list[_Plan] = []
    for enrollment in enrollments:
        spec = specs.get(enrollment.flow_id)
        if spec is None or enrollment.flow_id in broken:
            continue
        try:
            plans.append(_plan(enrollment, spec, now, enrollment.pk in reached))
        except SegmentRuleError as exc:  # a branch's rules: the flow's fault, not the contact's
            broken[enrollment.flow_id] = ("steps", exc)
            _hold(enrollment.flow, exc, "steps", enrollments, now, result)
        except Exception as exc:  # one broken enrollment must not stop the others
            _failed(enrollment, exc, result)
    plans = [plan for plan in plans if plan.enrollment.flow_id not in broken]
    try:
        with transaction.atomic():
            counts = _carry_out_plans(plans, now)
    except Exception:
        logger.warning("Advancing a batch at once failed; one enrollment at a time", exc_info=True)
        for plan in plans:
            try:
                with transaction.atomic():
                    _add(result, _carry_out_plans([plan], now))
            except Exception as exc:
                _failed(plan.enrollment, exc, result)
    else:
        _add(result, counts)
    return result


def _hold(
    flow: Flow,
    error: Exception,
    part: str,
    enrollments: Sequence[Enrollment],
    now: dt.datetime,
    result: AdvanceResult,
) -> None:
    """The flow cannot be run: it pauses itself, and its contacts in this batch wait where
    they are (their leases given up) until it is fixed and resumed."""
    pause_broken_flow(flow, error, now=now, part=part)
    held = [e.pk for e in enrollments if e.flow_id == flow.pk]
    Enrollment.objects.filter(pk__in=held).update(lease_until=None)
    result.errors.append(f"flow {flow.pk}: its {part} failed ({error}); the flow is paused")


def _failed(enrollment: Enrollment, exc: Exception, result: AdvanceResult) -> None:
    logger.error("Advancing enrollment %s failed", enrollment.pk, exc_info=exc)
    result.errors.append(f"enrollment {enrollment.pk}: {exc}")
    Enrollment.objects.filter(pk=enrollment.pk).update(lease_until=None)


def _add(result: AdvanceResult, counts: AdvanceResult) -> None:
    result.advanced += counts.advanced
    result.sent += counts.sent
    result.finished += counts.finished


@dataclass
class _Facts:
    """The engine's questions about one enrollment, answered from the database."""

    enrollment: Enrollment
    goal: bool
    now: dt.datetime

    def goal_reached(self) -> bool:
        return self.goal

    def still_eligible(self) -> bool:
        return self.enrollment.flow.status == FlowStatus.ACTIVE

    def zone(self) -> ZoneInfo:
        return contact_zone(self.enrollment.contact)

    def branch(self, step: engine.Branch) -> bool:
        block = find_block(self.enrollment.flow.steps, step.id)
        assert block is not None
        [condition] = list(block.value["condition"])
        return branch_holds(condition.block_type, condition.value, self.enrollment, self.now)


def branch_holds(kind: str, value: Any, enrollment: Enrollment, now: dt.datetime) -> bool:
    """A branch's condition for one enrollment's contact."""
    contact_id = enrollment.contact_id
    if kind == "event_since_entry":
        return Event.objects.filter(
            contact_id=contact_id,
            type=value["event_type"],
            occurred_at__gt=enrollment.entered_at,
            occurred_at__lte=now,
        ).exists()
    if kind == "segment":
        segment = Segment.objects.filter(pk=int(value)).first()
        if segment is None:
            raise SegmentRuleError("segment", f"segment {value} no longer exists")
        return is_member(contact_id, segment, now=now)
    if kind == "rules":
        tree = json.loads(value)
        return contacts_matching(tree, now=now).filter(pk=contact_id).exists()
    raise ValueError(f"unknown branch condition {kind!r}")


@dataclass
class _Plan:
    """What the engine decided for one enrollment, to carry out."""

    enrollment: Enrollment
    started: bool  # it had not begun: its log starts with "entered"
    outcome: engine.Outcome


def _plan(
    enrollment: Enrollment,
    spec: engine.FlowSpec,
    now: dt.datetime,
    goal: bool,
    *,
    due_now: bool = False,
) -> _Plan:
    position = engine.Position(
        step_id=enrollment.step_id or None,
        status=enrollment.status,
        next_run_at=None if due_now else enrollment.next_run_at,
        waiting=enrollment.waiting,
    )
    outcome = engine.advance(spec, position, now, _Facts(enrollment, goal, now))
    return _Plan(enrollment, position.step_id is None, outcome)


def end_at_goal(enrollments: Sequence[Enrollment], *, now: dt.datetime) -> int:
    """End these enrollments, whose goal was found before their next step came due, as
    advancing ends one whose goal it finds: the engine's outcome (status ``goal``, where it
    stood, its reason), ``finished_at``, the lease given up, the same log lines ("entered"
    if it had not begun, then "goal"). Returns how many ended.

    Their ``flow`` must be loaded; the caller holds them (locked, not leased by a worker)
    and its transaction. One whose step was removed from the flow is left for advancing,
    which says so when it comes due."""
    specs: dict[tuple[int, int], engine.FlowSpec] = {}
    plans = []
    for enrollment in enrollments:
        flow = enrollment.flow
        spec = specs.get((flow.pk, flow.revision))
        if spec is None:
            spec = specs[(flow.pk, flow.revision)] = spec_of(flow.steps)
        plan = _plan(enrollment, spec, now, True, due_now=True)
        if plan.outcome.position.status == engine.GOAL:
            plans.append(plan)
    return _carry_out_plans(plans, now).finished


def _carry_out_plans(plans: Sequence[_Plan], now: dt.datetime) -> AdvanceResult:
    """Carry out and save these plans (in the caller's transaction): the emails and notes
    they queue in bulk (one outbox row each, whose key holds the enrollment and the step),
    contact updates in order, then every log line and new position."""
    counts = AdvanceResult()
    log: list[list[Any]] = []
    emails: list[QueuedMessage] = []
    notes: list[QueuedMessage] = []
    keyed: list[tuple[list[Any], str]] = []  # log lines naming the message they queued
    changed: list[Enrollment] = []
    for plan in plans:
        enrollment, outcome = plan.enrollment, plan.outcome
        if plan.started:
            log.append(_log(enrollment, now, "entered", "", _trigger_detail(enrollment)))
        for step_id in outcome.visited:
            log.append(_log(enrollment, now, "step", step_id))
        for effect in outcome.effects:
            line, message = _carry_out(enrollment, effect, now)
            log.append(line)
            if message is not None:
                (emails if effect.kind == "send" else notes).append(message)
                key = idempotency_key(
                    message.source_type, message.source_id, message.contact_id, message.occurrence
                )
                keyed.append((line, key))
        new = outcome.position
        if new.status != engine.ACTIVE:
            log.append(_log(enrollment, now, new.status, new.step_id or "", new.exit_reason))
            counts.finished += 1
        enrollment.status = new.status
        enrollment.step_id = new.step_id or ""
        enrollment.waiting = new.waiting
        enrollment.next_run_at = new.next_run_at
        enrollment.exit_reason = new.exit_reason[:200]
        enrollment.finished_at = now if new.status != engine.ACTIVE else None
        enrollment.lease_until = None
        changed.append(enrollment)
        counts.advanced += 1
    if emails:
        counts.sent += queue_messages(emails)
    if notes:
        queue_messages(notes)
    if keyed:
        ids = dict(
            OutboxMessage.objects.filter(idempotency_key__in={key for _, key in keyed})
            .order_by()
            .values_list("idempotency_key", "pk")
        )
        for line, key in keyed:
            line[-1] = ids[key]
    update_rows(
        Enrollment,
        _POSITION_FIELDS,
        [
            (enrollment.pk, *(getattr(enrollment, name) for name in _POSITION_FIELDS))
            for enrollment in changed
        ],
        null=["lease_until"],
    )
    insert_rows(EnrollmentLog, _LOG_FIELDS, log)
    return counts


#: What advancing changes on an enrollment (its lease too, given up: set to NULL).
_POSITION_FIELDS = ("status", "step_id", "waiting", "next_run_at", "exit_reason", "finished_at")
#: A log line's fields, in the order of ``_log()``'s rows.
_LOG_FIELDS = ("enrollment", "at", "action", "step_id", "detail", "message")


def _carry_out(
    enrollment: Enrollment, effect: engine.Effect, now: dt.datetime
) -> tuple[list[Any], QueuedMessage | None]:
    """An effect's log line, and the message it queues (if any) for the caller to write."""
    flow = enrollment.flow
    block = find_block(flow.steps, effect.step_id)
    assert block is not None
    if effect.kind == "send":
        message = _queued(enrollment, FLOW_SOURCE, effect.step_id, flow.kind, now)
        return _log(enrollment, now, "sent", effect.step_id, block.value["subject"]), message
    if effect.kind == "notify":
        message = _queued(
            enrollment,
            NOTIFY_SOURCE,
            effect.step_id,
            MessageKind.TRANSACTIONAL,
            now,
            deliver_to=block.value["to"],
            contact_admin_url=_contact_admin_url(enrollment.contact_id),
        )
        return _log(enrollment, now, "notified", effect.step_id, block.value["to"]), message
    if effect.kind == "update":
        detail = update_contact(enrollment.contact, block.value)
        return _log(enrollment, now, "updated", effect.step_id, detail), None
    raise ValueError(f"unknown effect {effect.kind!r}")


def _queued(
    enrollment: Enrollment,
    source_type: str,
    step_id: str,
    kind: str,
    now: dt.datetime,
    **context: Any,
) -> QueuedMessage:
    return QueuedMessage(
        contact_id=enrollment.contact_id,
        source_type=source_type,
        source_id=step_source_id(enrollment.flow_id, step_id),
        kind=kind,
        occurrence=f"enrollment-{enrollment.pk}",
        scheduled_at=now,
        trigger_event_id=enrollment.trigger_event_id,
        context={"enrollment": enrollment.pk, **enrollment.context, **context},
    )


def update_contact(contact: Contact, value: dict[str, Any]) -> str:
    """Set an attribute or add/remove a tag (``attributes["tags"]``); says what changed."""
    name, action = value["name"], value["action"]
    attributes = dict(contact.attributes or {})
    if action == "set_attribute":
        attributes[name] = value.get("value") or ""
        detail = f"{name} = {attributes[name]!r}"
    else:
        tags = [tag for tag in attributes.get("tags") or [] if isinstance(tag, str)]
        if action == "add_tag" and name not in tags:
            tags.append(name)
        elif action == "remove_tag":
            tags = [tag for tag in tags if tag != name]
        attributes["tags"] = tags
        detail = f"{'+' if action == 'add_tag' else '-'}tag {name}"
    Contact.objects.filter(pk=contact.pk).update(attributes=attributes)
    contact.attributes = attributes
    return detail


def _contact_admin_url(contact_id: int) -> str:
    try:
        return f"{site_base_url()}{reverse('oneonone_contact:inspect', args=[contact_id])}"
    except NoReverseMatch:
        return ""


def _trigger_detail(enrollment: Enrollment) -> str:
    return f"event {enrollment.trigger_event_id}" if enrollment.trigger_event_id else ""


def _log(
    enrollment: Enrollment, at: dt.datetime, action: str, step_id: str, detail: str = ""
) -> list[Any]:
    """A log line's values (``_LOG_FIELDS``); the message it names is set once queued."""
    return [enrollment.pk, at, action, step_id, detail[:500], None]


def pause_flow(flow: Flow) -> bool:
    """Hold everyone where they are and enroll no one; False if it was not active."""
    return bool(
        Flow.objects.filter(pk=flow.pk, status=FlowStatus.ACTIVE).update(status=FlowStatus.PAUSED)
    )


def resume_flow(flow: Flow, *, now: dt.datetime | None = None) -> bool:
    """Carry on: everyone waiting goes on; events while it was paused trigger nothing.
    False if it was not paused."""
    return bool(
        Flow.objects.filter(pk=flow.pk, status=FlowStatus.PAUSED).update(
            status=FlowStatus.ACTIVE, activated_at=now or timezone.now(), paused_reason=""
        )
    )
