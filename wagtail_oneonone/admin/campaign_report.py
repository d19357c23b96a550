"""What a campaign page shows about its send: outcomes grouped by reason, messages sent
over time, and the schedule in words. Read-only queries over the campaign's outbox rows."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDay, TruncHour, TruncMinute
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from ..campaigns.schedule import zone_named
from ..campaigns.services import campaign_messages, schedule_of
from ..conf import app_settings
from ..models import CampaignSend, OutboxStatus, SendMode
from .segment_chart import CountChart, count_chart

#: Reasons and errors listed on the page (the most frequent first).
MAX_GROUPS = 20
#: Distinct error texts read to group failures by their first line.
MAX_ERROR_TEXTS = 500
NO_REASON = "(no reason recorded)"

# Bucket sizes for "sent over time", the longest span each is used for, and its step.
_UNITS: tuple[tuple[str, dt.timedelta, Any, dt.timedelta], ...] = (
    ("minute", dt.timedelta(hours=3), TruncMinute, dt.timedelta(minutes=1)),
    ("hour", dt.timedelta(days=14), TruncHour, dt.timedelta(hours=1)),
    ("day", dt.timedelta.max, TruncDay, dt.timedelta(days=1)),
)


@dataclass(frozen=True)
class SentOverTime:
    """Messages sent per ``unit`` (minute, hour or day), gaps filled with zeros."""

    unit: str
    counts: list[tuple[dt.datetime, int]]
    chart: CountChart | None

    @property
    def total(self) -> int:
        return sum(count for _when, count in self.counts)

    @property
    def busiest(self) -> int:
        return max((count for _when, count in self.counts), default=0)

    def summary(self) -> str:
        """What the chart shows, for screen readers (the SVG's description)."""
        if not self.counts:
            return ""
        return _(
            "%(total)s messages sent from %(first)s to %(last)s; at most %(busiest)s in one "
            "%(unit)s."
        ) % {
            "total": self.total,
            "first": _when(self.counts[0][0]),
            "last": _when(self.counts[-1][0]),
            "busiest": self.busiest,
            "unit": self.unit,
        }


def sent_over_time(campaign_id: int) -> SentOverTime:
    """Messages of the campaign sent per minute (short sends), hour or day."""
    sent = campaign_messages(campaign_id).filter(status=OutboxStatus.SENT, sent_at__isnull=False)
    bounds = sent.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    if bounds["first"] is None:
        return SentOverTime(unit="hour", counts=[], chart=None)
    span = bounds["last"] - bounds["first"]
    unit, _longest, trunc, step = next(unit for unit in _UNITS if span <= unit[1])
    zone = timezone.get_current_timezone()
    rows = (
        sent.order_by()
        .annotate(bucket=trunc("sent_at", tzinfo=zone))
        .values("bucket")
        .annotate(count=Count("pk"))
        .values_list("bucket", "count")
    )
    found = {bucket: count for bucket, count in rows}
    counts = filled_buckets(sorted(found), found, step, zone, by_day=unit == "day")
    return SentOverTime(unit=unit, counts=counts, chart=count_chart(counts))


def filled_buckets(
    buckets: list[dt.datetime],
    found: dict[dt.datetime, int],
    step: dt.timedelta,
    zone: Any,
    *,
    by_day: bool,
) -> list[tuple[dt.datetime, int]]:
    """Every bucket from the first to the last, zero where nothing was sent."""
    counts: list[tuple[dt.datetime, int]] = []
    current, last = buckets[0], buckets[-1]
    while current <= last:
        counts.append((current, found.get(current, 0)))
        if by_day:
            # A calendar day in the admin's zone: 23 or 25 hours when the clocks change.
            wall = timezone.localtime(current, zone).replace(tzinfo=None) + step
            current = timezone.make_aware(wall, zone)
        else:
            current = current + step
    return counts


def grouped_skips(campaign_id: int) -> list[tuple[str, int]]:
    """Skipped messages by reason (no consent, suppressed, cancelled...), most first."""
    rows = (
        campaign_messages(campaign_id)
        .filter(status=OutboxStatus.SKIPPED)
        .order_by()
        .values("skip_reason")
        .annotate(count=Count("pk"))
        .order_by("-count", "skip_reason")
        .values_list("skip_reason", "count")[:MAX_GROUPS]
    )
    return [(reason or NO_REASON, count) for reason, count in rows]


def grouped_failures(campaign_id: int) -> list[tuple[str, int]]:
    """Failed messages by the first line of their error, most first."""
    rows = (
        campaign_messages(campaign_id)
        .filter(status=OutboxStatus.FAILED)
        .order_by()
        .values("last_error")
        .annotate(count=Count("pk"))
        .order_by("-count")
        .values_list("last_error", "count")[:MAX_ERROR_TEXTS]
    )
    groups: Counter[str] = Counter()
    for error, count in rows:
        groups[first_line(error) or NO_REASON] += count
    return sorted(groups.items(), key=lambda item: (-item[1], item[0]))[:MAX_GROUPS]


def first_line(text: str) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def site_zone() -> ZoneInfo:
    """The zone times are entered in, and contacts without a zone of their own get."""
    return zone_named(app_settings.default_time_zone, "UTC")


def in_site_zone(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return formats.date_format(value.astimezone(site_zone()), "DATETIME_FORMAT")


def schedule_rows(send: CampaignSend) -> list[tuple[str, str]]:
    """The send's schedule in words, times in the site's zone."""
    schedule = schedule_of(send)
    zone_name = app_settings.default_time_zone
    rows = [(_("How"), str(SendMode(send.mode).label))]
    if send.mode == SendMode.NOW:
        rows.append((_("Asked for"), in_site_zone(send.send_at)))
    elif send.mode == SendMode.AT:
        rows.append((_("At"), in_site_zone(send.send_at)))
    elif send.mode == SendMode.LOCAL and send.local_date and send.local_time:
        rows.append(
            (
                _("Local time"),
                _("%(date)s at %(time)s in each contact's zone (%(zone)s for those without)")
                % {
                    "date": formats.date_format(send.local_date, "DATE_FORMAT"),
                    "time": formats.time_format(send.local_time, "TIME_FORMAT"),
                    "zone": zone_name,
                },
            )
        )
        rows.append((_("First copies"), in_site_zone(schedule.first_send)))
        rows.append((_("Last copies"), in_site_zone(schedule.last_send)))
    elif send.mode == SendMode.SPREAD:
        rows.append((_("Starting"), in_site_zone(send.send_at)))
        rows.append(
            (
                _("Spread over"),
                _("%(hours)s hours, until %(end)s")
                % {"hours": send.spread_hours, "end": in_site_zone(schedule.last_send)},
            )
        )
    rows.append((_("Queueing from"), in_site_zone(send.queue_from)))
    rows.append(
        (
            _("Scheduled"),
            _("%(when)s by %(who)s")
            % {"when": in_site_zone(send.scheduled_at), "who": _user(send.scheduled_by)},
        )
    )
    if send.queue_started_at:
        rows.append((_("Queueing started"), in_site_zone(send.queue_started_at)))
    if send.queue_finished_at:
        rows.append((_("Queueing finished"), in_site_zone(send.queue_finished_at)))
    if send.finished_at:
        rows.append((_("Finished"), in_site_zone(send.finished_at)))
    if send.cancelled_at:
        rows.append(
            (
                _("Cancelled"),
                _("%(when)s by %(who)s")
                % {"when": in_site_zone(send.cancelled_at), "who": _user(send.cancelled_by)},
            )
        )
    return rows


def _user(user: Any) -> str:
    if user is None:
        return _("(nobody recorded)")
    return (
        str(user.get_full_name() or user.get_username())
        if hasattr(user, "get_username")
        else str(user)
    )


def _when(value: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
