"""Queue tasks: the only module that imports django_q.

Tasks take ids (or nothing) and call a service; they are enqueued when the current
transaction commits, so a worker never looks for a row that is not there yet. They are
wake-ups: the outbox, not the queue, says what must be sent.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from django.db import transaction
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.tasks import async_task

from .conf import app_settings

DISPATCH_TASK = "wagtail_oneonone.tasks.dispatch_outbox"
DISPATCH_SCHEDULE = "wagtail_oneonone: send due email"
COUNT_SEGMENTS_TASK = "wagtail_oneonone.tasks.count_segments"
COUNT_SEGMENTS_SCHEDULE = "wagtail_oneonone: count segments daily"
CAMPAIGNS_TASK = "wagtail_oneonone.tasks.start_campaigns"
CAMPAIGNS_SCHEDULE = "wagtail_oneonone: start scheduled campaigns"
FLOWS_TASK = "wagtail_oneonone.tasks.run_flows"
FLOWS_SCHEDULE = "wagtail_oneonone: run flows"

_last_wake = 0.0
_wake_lock = threading.Lock()


def run_contact_import(import_id: int) -> None:
    """Process one queued CSV import."""
    from .contacts.importing import run_import

    run_import(import_id)


def enqueue_contact_import(import_id: int) -> None:
    transaction.on_commit(
        lambda: async_task(
            "wagtail_oneonone.tasks.run_contact_import",
            import_id,
            task_name=f"oneonone-contact-import-{import_id}",
        )
    )


def dispatch_outbox() -> dict[str, Any]:
    """Sweep dead leases and send what is due; returns the counts for the task result."""
    from dataclasses import asdict

    from .sending.dispatch import dispatch_due

    # Finish well inside the cluster's timeout: a run cut short mid-send leaves messages
    # whose outcome is unknown.
    timeout = Conf.TIMEOUT or 120
    clock = app_settings.clock()
    return asdict(dispatch_due(clock=clock, max_seconds=max(5.0, min(50.0, timeout / 2))))


def wake_dispatcher(debounce_seconds: float = 2.0) -> None:
    """Ask a worker to dispatch now rather than at the next scheduled minute.

    Queuing a campaign announces many messages; one wake-up every few seconds per process
    is plenty, since each dispatch drains everything that is due.
    """
    global _last_wake
    with _wake_lock:
        now = time.monotonic()
        # In sync mode (tests) every wake-up runs at once, so none may be skipped.
        if now - _last_wake < debounce_seconds and not Conf.SYNC:
            return
        _last_wake = now
    async_task(DISPATCH_TASK, task_name="oneonone-dispatch-wake", group="oneonone-dispatch")


def count_segments() -> int:
    """Record every segment's count, for the count-over-time chart."""
    from .segments.membership import record_all_counts

    return record_all_counts()


def start_campaigns() -> dict[str, int]:
    """Queue the campaigns whose time has come, and mark finished ones sent."""
    from .campaigns.services import finish_campaigns, start_due_campaigns

    now = app_settings.clock()()
    return {"queued": start_due_campaigns(now), "finished": finish_campaigns(now)}


def run_flows(now: dt.datetime | None = None) -> dict[str, Any]:
    """Enroll contacts (new events, segments entered, dates come round), then advance the
    enrollments that are due; at ``now`` (by default the ``CLOCK`` setting's time)."""
    from dataclasses import asdict

    from .flows.services import advance_due
    from .flows.triggers import match_date_triggers, match_membership_triggers, match_new_events

    now = now or app_settings.clock()()
    matched = match_new_events(now=now)
    enrolled = matched.enrolled + match_membership_triggers(now=now) + match_date_triggers(now=now)
    return {
        "events": matched.events,
        "enrolled": enrolled,
        "reached_goal": matched.reached_goal,
        **asdict(advance_due(now=now)),
    }


def queue_campaign(campaign_id: int) -> int:
    """Queue one campaign's audience now (a "send now")."""
    from .campaigns.services import queue_campaign as queue

    return queue(campaign_id, now=app_settings.clock()())


def enqueue_campaign(campaign_id: int) -> None:
    """Start queueing a campaign in a worker (call once the send is committed)."""
    async_task(
        "wagtail_oneonone.tasks.queue_campaign",
        campaign_id,
        task_name=f"oneonone-campaign-{campaign_id}",
    )


def ensure_schedules() -> None:
    """Create or update the app's schedules (idempotent): dispatch, campaigns and flows
    every minute, and segment counts once a day."""
    Schedule.objects.update_or_create(
        name=DISPATCH_SCHEDULE,
        defaults={
            "func": DISPATCH_TASK,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name=CAMPAIGNS_SCHEDULE,
        defaults={
            "func": CAMPAIGNS_TASK,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name=FLOWS_SCHEDULE,
        defaults={
            "func": FLOWS_TASK,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    Schedule.objects.get_or_create(
        name=COUNT_SEGMENTS_SCHEDULE,
        defaults={"func": COUNT_SEGMENTS_TASK, "schedule_type": Schedule.DAILY, "repeats": -1},
    )
