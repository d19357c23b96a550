"""The flow engine: an enrollment and its flow's steps in, what to do next out. Pure.

No database and no clock: :func:`advance` takes the flow (:class:`FlowSpec`), where the
enrollment stands (:class:`Position`), the time and the answers to the questions the
steps ask (:class:`Facts`), and returns the effects to carry out (send this step's email,
set this attribute, notify this person) and where the enrollment stands afterwards. The
service in ``flows/services.py`` loads, asks, carries out and saves.

Steps are found by their id (a StreamField block's id), not their place: editing a live
flow moves steps around, and an enrollment waiting on a step keeps its place; one whose
step was deleted leaves the flow, saying so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol
from zoneinfo import ZoneInfo

#: Steps one call may take without reaching a wait: a flow is a few dozen steps at most,
#: so more means a mistake (it stops there, visibly, instead of spinning).
MAX_STEPS_PER_RUN = 200


# The flow's steps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Wait:
    """Wait a duration, or until a local time of day (on one of ``weekdays``, 0 = Monday)."""

    id: str
    duration: dt.timedelta | None = None
    until: dt.time | None = None
    weekdays: frozenset[int] = frozenset()


@dataclass(frozen=True)
class SendEmail:
    id: str


@dataclass(frozen=True)
class Branch:
    """Yes or no: the service answers ``Facts.branch(step)``; each side is a list of steps,
    after which the flow goes on after the branch."""

    id: str
    yes: tuple[Step, ...] = ()
    no: tuple[Step, ...] = ()


@dataclass(frozen=True)
class UpdateContact:
    id: str


@dataclass(frozen=True)
class Notify:
    id: str


@dataclass(frozen=True)
class End:
    id: str


Step = Wait | SendEmail | Branch | UpdateContact | Notify | End


@dataclass(frozen=True)
class FlowSpec:
    steps: tuple[Step, ...]

    def find(self, step_id: str) -> tuple[Sequence[Step], int] | None:
        """The list holding the step and its index in it, or None."""
        return _find(self.steps, step_id)

    def after(self, step_id: str) -> Step | None:
        """The step that follows ``step_id``: the next in its list, or after its branch."""
        return _after(self.steps, step_id)

    def first(self) -> Step | None:
        return self.steps[0] if self.steps else None


def _find(steps: Sequence[Step], step_id: str) -> tuple[Sequence[Step], int] | None:
    for index, step in enumerate(steps):
        if step.id == step_id:
            return steps, index
        if isinstance(step, Branch):
            found = _find(step.yes, step_id) or _find(step.no, step_id)
            if found:
                return found
    return None


def _after(steps: Sequence[Step], step_id: str) -> Step | None:
    """The step after ``step_id`` within ``steps`` (descending into branches)."""
    for index, step in enumerate(steps):
        following = steps[index + 1] if index + 1 < len(steps) else None
        if step.id == step_id:
            return following
        if isinstance(step, Branch) and (_find(step.yes, step_id) or _find(step.no, step_id)):
            inner = _after(step.yes, step_id) if _find(step.yes, step_id) else None
            if inner is None and _find(step.no, step_id):
                inner = _after(step.no, step_id)
            return inner if inner is not None else following
    return None


# Where an enrollment stands -----------------------------------------------------------------


ACTIVE = "active"  # due to run (now, or at ``next_run_at``)
COMPLETED = "completed"  # ran out of steps or reached an End step
GOAL = "goal"  # its goal happened: done, successfully
EXITED = "exited"  # left early: the flow changed under it, or it could not go on


@dataclass(frozen=True)
class Position:
    """An enrollment's place: the step it is at and, for a wait, when the wait ends."""

    step_id: str | None  # None: not started
    status: str = ACTIVE
    next_run_at: dt.datetime | None = None  # None with ACTIVE: due now
    waiting: bool = False  # at a Wait step whose end is ``next_run_at``
    # A new enrollment's ``next_run_at`` is when it entered: its first wait counts from then.
    exit_reason: str = ""


# What the service answers and carries out ----------------------------------------------------


class Facts(Protocol):
    """The questions steps ask, answered by the service (from the database)."""

    def goal_reached(self) -> bool: ...

    def still_eligible(self) -> bool:
        """False when the contact may no longer be in the flow (erased, left the filter)."""
        ...

    def branch(self, step: Branch) -> bool: ...

    def zone(self) -> ZoneInfo: ...


@dataclass(frozen=True)
class Effect:
    """Something to carry out: ``kind`` is "send", "update" or "notify"; ``step_id`` says
    which step (the service reads the step's settings)."""

    kind: str
    step_id: str


@dataclass(frozen=True)
class Outcome:
    position: Position
    effects: tuple[Effect, ...] = ()
    visited: tuple[str, ...] = field(default=())  # step ids passed through, in order


def advance(spec: FlowSpec, position: Position, now: dt.datetime, facts: Facts) -> Outcome:
    """Run the enrollment from ``position`` until it waits, ends or leaves.

    A position that is not due yet (``next_run_at`` in the future) is returned as it is.
    The goal is checked first, and again after every step, so a purchase ends the flow
    before any further email is decided.
    """
    if position.status != ACTIVE:
        return Outcome(position)
    if position.next_run_at is not None and position.next_run_at > now:
        return Outcome(position)
    effects: list[Effect] = []
    visited: list[str] = []
    # Waits count from when the enrollment became due (it entered, or its last wait ended),
    # not from when a worker got to it: a reminder "2 hours after the cart" is just that.
    moment = min(position.next_run_at or now, now)

    def done(new: Position) -> Outcome:
        return Outcome(new, tuple(effects), tuple(visited))

    if position.step_id is None:
        step = spec.first()
    else:
        if spec.find(position.step_id) is None:
            return done(_leave(position, "the step it was at was removed from the flow"))
        current = _step(spec, position.step_id)
        if isinstance(current, Wait) and position.waiting:
            step = spec.after(current.id)  # the wait is over
        else:
            step = current
    for _ in range(MAX_STEPS_PER_RUN):
        if facts.goal_reached():
            return done(Position(position.step_id, GOAL, exit_reason="reached the goal"))
        if not facts.still_eligible():
            return done(_leave(position, "no longer eligible for the flow"))
        if step is None:
            return done(Position(position.step_id, COMPLETED))
        visited.append(step.id)
        position = Position(step.id)
        if isinstance(step, Wait):
            end = wait_end(step, moment, facts.zone())
            if end > now:
                return done(Position(step.id, ACTIVE, end, True))
            # Already over (a worker catching up): go on, the next wait counting from its end.
            moment = end
            step = spec.after(step.id)
            continue
        if isinstance(step, End):
            return done(Position(step.id, COMPLETED))
        if isinstance(step, Branch):
            side = step.yes if facts.branch(step) else step.no
            step = side[0] if side else spec.after(step.id)
            continue
        effects.append(Effect(_EFFECTS[type(step)], step.id))
        step = spec.after(step.id)
    return done(_leave(position, f"more than {MAX_STEPS_PER_RUN} steps without a wait"))


_EFFECTS: dict[type, str] = {SendEmail: "send", UpdateContact: "update", Notify: "notify"}


def _step(spec: FlowSpec, step_id: str) -> Step:
    found = spec.find(step_id)
    assert found is not None
    steps, index = found
    return steps[index]


def _leave(position: Position, reason: str) -> Position:
    return replace(position, status=EXITED, next_run_at=None, waiting=False, exit_reason=reason)


def wait_end(step: Wait, now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """When a wait that starts ``now`` ends (UTC).

    A duration is exact time (UTC), so "wait 2 hours" is two hours even across a DST
    change. "Until 10:00" is the next 10:00 on the contact's wall clock after ``now`` (and
    after the duration, when both are given), on one of ``weekdays`` if any are set;
    a 10:00 skipped by the clocks going forward is 11:00 that day.
    """
    start = now + (step.duration or dt.timedelta())
    if step.until is None:
        return start
    local = start.astimezone(zone)
    day = local.date()
    for _ in range(8):
        candidate = dt.datetime.combine(day, step.until.replace(tzinfo=None), tzinfo=zone)
        instant = candidate.astimezone(dt.UTC)
        if instant >= start and (not step.weekdays or day.weekday() in step.weekdays):
            return instant
        day += dt.timedelta(days=1)
    raise ValueError("weekdays must be numbers 0 (Monday) to 6 (Sunday)")
