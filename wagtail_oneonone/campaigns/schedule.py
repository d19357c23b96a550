"""When each recipient's copy goes: now, at a time, at a local time in their zone, or spread.

Pure functions of the schedule and the contact's zone (no database): the queueing service
asks :meth:`Schedule.send_time` for every row it writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..models import SendMode

#: Queueing starts this long before the first copy is due, so the rows exist in time.
QUEUE_AHEAD = dt.timedelta(minutes=10)
#: The first wall clock on Earth to reach a given time is UTC+14 (Kiribati), the last UTC-12.
EARLIEST_OFFSET = dt.timedelta(hours=14)
LATEST_OFFSET = dt.timedelta(hours=12)
MAX_SPREAD_HOURS = 72


@lru_cache(maxsize=1024)
def zone_named(name: str | None, default: str) -> ZoneInfo:
    """The contact's zone; no zone, or one this machine does not know, means ``default``."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def local_instant(day: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    """``time`` on ``day`` on the wall clocks of ``zone``, in UTC.

    DST-correct: the offset is the one in force at that moment in that zone. A time that
    does not exist that day (skipped when clocks go forward) falls an hour later, as a wall
    clock shows it; a time that happens twice (clocks go back) is its first occurrence.
    """
    return dt.datetime.combine(day, time.replace(tzinfo=None), tzinfo=zone).astimezone(dt.UTC)


@dataclass(frozen=True)
class Schedule:
    """A campaign send's timing, as the send form gives it (times aware, UTC or not)."""

    mode: str
    send_at: dt.datetime
    local_date: dt.date | None = None
    local_time: dt.time | None = None
    spread_hours: int | None = None
    default_zone: str = "UTC"

    def __post_init__(self) -> None:
        if self.send_at.tzinfo is None:
            raise ValueError("send_at must be an aware datetime")
        if self.mode not in SendMode.values:
            raise ValueError(f"unknown send mode {self.mode!r}")
        if self.mode == SendMode.LOCAL and (self.local_date is None or self.local_time is None):
            raise ValueError("a local-time send needs local_date and local_time")
        if self.mode == SendMode.SPREAD and not (
            self.spread_hours and 1 <= self.spread_hours <= MAX_SPREAD_HOURS
        ):
            raise ValueError(f"a spread send needs 1 to {MAX_SPREAD_HOURS} spread_hours")

    @property
    def first_send(self) -> dt.datetime:
        """The earliest moment any copy is due."""
        if self.mode == SendMode.LOCAL:
            assert self.local_date is not None and self.local_time is not None
            wall = dt.datetime.combine(self.local_date, self.local_time, tzinfo=dt.UTC)
            return wall - EARLIEST_OFFSET
        return self.send_at.astimezone(dt.UTC)

    @property
    def last_send(self) -> dt.datetime:
        """The latest moment any copy is due."""
        if self.mode == SendMode.LOCAL:
            assert self.local_date is not None and self.local_time is not None
            wall = dt.datetime.combine(self.local_date, self.local_time, tzinfo=dt.UTC)
            return wall + LATEST_OFFSET
        if self.mode == SendMode.SPREAD:
            assert self.spread_hours
            return self.first_send + dt.timedelta(hours=self.spread_hours)
        return self.first_send

    def queue_from(self) -> dt.datetime:
        """When queueing may start: now for NOW, a little ahead of the first copy otherwise."""
        if self.mode == SendMode.NOW:
            return self.send_at.astimezone(dt.UTC)
        return self.first_send - QUEUE_AHEAD

    def send_time(self, zone_name: str | None, *, index: int = 0, total: int = 1) -> dt.datetime:
        """When the copy of the ``index``-th of ``total`` recipients is due (UTC).

        A local time already past in the contact's zone when the copy is queued is simply
        due at once: the send goes out late rather than a day late.
        """
        if self.mode == SendMode.LOCAL:
            assert self.local_date is not None and self.local_time is not None
            zone = zone_named(zone_name, self.default_zone)
            return local_instant(self.local_date, self.local_time, zone)
        if self.mode == SendMode.SPREAD:
            assert self.spread_hours
            share = min(max(index, 0) / max(total, 1), 1.0)
            offset = dt.timedelta(seconds=round(self.spread_hours * 3600 * share))
            return self.first_send + offset
        return self.first_send
