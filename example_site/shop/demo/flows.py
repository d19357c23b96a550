"""The built-in flows, on for the demo's last weeks and run over them as they happened.

A flow only reacts to what happens after it is turned on, so installing the flows at the
end of the history would show eight flows and no one in them. Instead the loader turns
them on ``days`` before the demo's "now" and replays those days: it writes the events of
each hour in the order they happened, then does what the worker does every minute, with
the clock at the end of that hour — match the new events, segments entered and dates
come round, advance the enrollments that are due, send what is due (through the demo's
email backend). So at every step the database holds the history up to the clock and no
further: a goal, a branch or a segment sees only what had happened by then.

When the site starts, the worker carries on from there in real time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

from wagtail_oneonone.flows.builtin import BUILTIN_FLOWS, VIP_SEGMENT, install_builtin
from wagtail_oneonone.models import Event, Flow, FlowStatus, OutboxMessage
from wagtail_oneonone.sending.dispatch import dispatch_due
from wagtail_oneonone.tasks import run_flows

#: How long before "now" the flows were turned on, and the replay's step.
FLOW_DAYS = 21
STEP = dt.timedelta(hours=1)
#: Who the flows' notes to a colleague go to (the demo's admin).
STAFF_EMAIL = "admin@example.com"
#: The built-in flows' segment (created on install), removed with the demo.
FLOW_SEGMENT_SLUGS = [VIP_SEGMENT["slug"]]


@dataclass
class FlowsReplay:
    """What the replay did: enrollments and emails sent, per flow name."""

    since: dt.datetime
    entered: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)


def install_flows(since: dt.datetime) -> None:
    """Every built-in flow, installed and turned on at ``since``."""
    for builtin in BUILTIN_FLOWS:
        flow = install_builtin(builtin.key, staff_email=STAFF_EMAIL)
        flow.status = FlowStatus.ACTIVE
        flow.save()
        Flow.objects.filter(pk=flow.pk).update(activated_at=since)


def replay_flows(events: Sequence[Event], since: dt.datetime, now: dt.datetime) -> FlowsReplay:
    """Write ``events`` (all after ``since``, in time order) hour by hour, running the
    flows and the outbox at the end of each hour, until ``now``."""
    install_flows(since)
    with _quiet_sending():
        run_flows(now=since)  # segment and engagement triggers note who is in already
        clock, start = since, 0
        while clock < now:
            clock = min(clock + STEP, now)
            end = start
            while end < len(events) and events[end].occurred_at <= clock:
                end += 1
            Event.objects.bulk_create(events[start:end], batch_size=2000)
            start = end
            run_flows(now=clock)
            dispatch_due(clock=partial(_same, clock), max_seconds=600)
    return summarise(since)


def summarise(since: dt.datetime) -> FlowsReplay:
    summary = FlowsReplay(since=since)
    for flow in Flow.objects.all():
        summary.entered[flow.name] = flow.enrollments.count()
        summary.sent[flow.name] = OutboxMessage.objects.filter(
            source_type="flow", source_id__startswith=f"{flow.pk}:", status="sent"
        ).count()
    return summary


def _same(moment: dt.datetime) -> dt.datetime:
    return moment


@contextmanager
def _quiet_sending() -> Iterator[None]:
    """The demo's backend logs every email it captures: not the replay's hundreds."""
    backend = logging.getLogger("wagtail_oneonone.backends")
    level = backend.level
    backend.setLevel(logging.WARNING)
    try:
        yield
    finally:
        backend.setLevel(level)
