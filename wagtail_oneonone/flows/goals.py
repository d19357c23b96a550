"""Has an enrollment's goal happened? Asked for a batch at once: when the matcher reads a
goal event (``triggers.end_reached_goals``), when steps come due, and again at send time."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ..models import Enrollment, Flow
from ..segments import members_among
from ..segments.builtins import matching_events
from ..segments.compiler import compile_context
from .bulk import Among


def goals_reached(
    enrollments: Iterable[Enrollment],
    *,
    now: dt.datetime | None = None,
    left_segment: bool = True,
    broken: dict[int, Exception] | None = None,
) -> set[int]:
    """The ids of those enrollments whose flow's goal happened after they entered.

    A goal is an event after entering (with the flow's filters), or leaving a segment;
    ``left_segment=False`` asks about the event only. Two queries a flow at most, whatever
    the number of enrollments. With ``broken``, a flow whose goal cannot be evaluated (a
    filter or segment that no longer makes sense) is put there, its error by its id,
    instead of the error stopping the others' answers; its enrollments are in neither.
    """
    now = now or timezone.now()
    by_flow: dict[int, list[Enrollment]] = defaultdict(list)
    flows: dict[int, Flow] = {}
    for enrollment in enrollments:
        by_flow[enrollment.flow_id].append(enrollment)
        flows[enrollment.flow_id] = enrollment.flow
    reached: set[int] = set()
    for flow_id, items in by_flow.items():
        if broken is None:
            reached |= _reached(flows[flow_id], items, now, left_segment)
            continue
        try:
            with transaction.atomic():
                reached |= _reached(flows[flow_id], items, now, left_segment)
        except Exception as exc:
            broken[flow_id] = exc
    return reached


def _reached(
    flow: Flow, items: list[Enrollment], now: dt.datetime, left_segment: bool
) -> set[int]:
    """Of one flow's enrollments, those whose goal happened after they entered."""
    reached: set[int] = set()
    contacts = {enrollment.contact_id for enrollment in items}
    if flow.goal_event_type:
        latest = _latest_goal_events(flow, contacts, min(e.entered_at for e in items), now)
        reached |= {
            enrollment.pk
            for enrollment in items
            if latest.get(enrollment.contact_id, enrollment.entered_at) > enrollment.entered_at
        }
    if left_segment and flow.goal_left_segment is not None:
        members = members_among(flow.goal_left_segment, contacts, now=now)
        reached |= {enrollment.pk for enrollment in items if enrollment.contact_id not in members}
    return reached


def _latest_goal_events(
    flow: Flow, contacts: set[int], since: dt.datetime, now: dt.datetime
) -> dict[int, dt.datetime]:
    latest: dict[int, dt.datetime] = {}
    events = matching_events(
        flow.goal_event_type, compile_context(now), filters=flow.goal_filters or ()
    ).filter(Among("contact_id", contacts), occurred_at__gt=since, occurred_at__lte=now)
    for contact_id, occurred_at in events.values_list("contact_id", "occurred_at"):
        if occurred_at > latest.get(contact_id, occurred_at - dt.timedelta(seconds=1)):
            latest[contact_id] = occurred_at
    return latest
