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
from ..sending.outbox import queue_message
from ..tracking.links import site_base_url
from . import engine
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
    result = result or AdvanceResult()
    enrollments = list(
        Enrollment.objects.filter(pk__in=ids).select_related("flow", "contact").order_by("id")
    )
    reached = goals_reached(enrollments, now=now)
    specs: dict[tuple[int, int], engine.FlowSpec] = {}
    for enrollment in enrollments:
        flow = enrollment.flow
        spec = specs.get((flow.pk, flow.revision))
        if spec is None:
            spec = specs[(flow.pk, flow.revision)] = spec_of(flow.steps)
        try:
            _advance_one(enrollment, spec, now, enrollment.pk in reached, result)
        except Exception as exc:  # one broken enrollment must not stop the others
            logger.exception("Advancing enrollment %s failed", enrollment.pk)
            result.errors.append(f"enrollment {enrollment.pk}: {exc}")
            Enrollment.objects.filter(pk=enrollment.pk).update(lease_until=None)
    return result


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


def _advance_one(
    enrollment: Enrollment,
    spec: engine.FlowSpec,
    now: dt.datetime,
    goal: bool,
    result: AdvanceResult,
) -> None:
    position = engine.Position(
        step_id=enrollment.step_id or None,
        status=enrollment.status,
        next_run_at=enrollment.next_run_at,
        waiting=enrollment.waiting,
    )
    outcome = engine.advance(spec, position, now, _Facts(enrollment, goal, now))
    log: list[EnrollmentLog] = []
    if position.step_id is None:
        log.append(_log(enrollment, now, "entered", "", _trigger_detail(enrollment)))
    with transaction.atomic():
        for step_id in outcome.visited:
            log.append(_log(enrollment, now, "step", step_id))
        for effect in outcome.effects:
            log.append(_carry_out(enrollment, effect, now, result))
        new = outcome.position
        if new.status != engine.ACTIVE:
            log.append(_log(enrollment, now, new.status, new.step_id or "", new.exit_reason))
            result.finished += 1
        Enrollment.objects.filter(pk=enrollment.pk).update(
            status=new.status,
            step_id=new.step_id or "",
            waiting=new.waiting,
            next_run_at=new.next_run_at,
            exit_reason=new.exit_reason[:200],
            finished_at=now if new.status != engine.ACTIVE else None,
            lease_until=None,
        )
        EnrollmentLog.objects.bulk_create(log)
    result.advanced += 1


def _carry_out(
    enrollment: Enrollment, effect: engine.Effect, now: dt.datetime, result: AdvanceResult
) -> EnrollmentLog:
    flow = enrollment.flow
    block = find_block(flow.steps, effect.step_id)
    assert block is not None
    if effect.kind == "send":
        message, created = _queue(enrollment, FLOW_SOURCE, effect.step_id, flow.kind, now)
        result.sent += created
        return _log(enrollment, now, "sent", effect.step_id, block.value["subject"], message)
    if effect.kind == "notify":
        message, _ = _queue(
            enrollment,
            NOTIFY_SOURCE,
            effect.step_id,
            MessageKind.TRANSACTIONAL,
            now,
            deliver_to=block.value["to"],
            contact_admin_url=_contact_admin_url(enrollment.contact_id),
        )
        return _log(enrollment, now, "notified", effect.step_id, block.value["to"], message)
    if effect.kind == "update":
        detail = update_contact(enrollment.contact, block.value)
        return _log(enrollment, now, "updated", effect.step_id, detail)
    raise ValueError(f"unknown effect {effect.kind!r}")


def _queue(
    enrollment: Enrollment,
    source_type: str,
    step_id: str,
    kind: str,
    now: dt.datetime,
    **context: Any,
) -> tuple[OutboxMessage, bool]:
    return queue_message(
        enrollment.contact,
        source_type=source_type,
        source_id=step_source_id(enrollment.flow_id, step_id),
        kind=kind,
        occurrence=f"enrollment-{enrollment.pk}",
        scheduled_at=now,
        trigger_event=enrollment.trigger_event,
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
    enrollment: Enrollment,
    at: dt.datetime,
    action: str,
    step_id: str,
    detail: str = "",
    message: OutboxMessage | None = None,
) -> EnrollmentLog:
    return EnrollmentLog(
        enrollment=enrollment,
        at=at,
        action=action,
        step_id=step_id,
        detail=detail[:500],
        message=message,
    )


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
            status=FlowStatus.ACTIVE, activated_at=now or timezone.now()
        )
    )
