"""Pacing sends to the provider's rate, and the kill switch for bad sending health."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from ..conf import app_settings
from ..models import MessageKind, OutboxMessage, OutboxStatus, Suppression
from ..models.contacts import SuppressionReason


class Pacer:
    """Spaces sends so one worker stays under ``RATE_LIMIT_PER_SECOND``."""

    def __init__(
        self,
        per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self.clock = clock
        self.sleep = sleep
        self.next_at = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval

    def batch_size(self, wanted: int, seconds: float) -> int:
        """Cut batches to what the rate allows in ``seconds`` (one lease), at least one."""
        if not self.interval:
            return wanted
        return max(1, min(wanted, int(seconds / self.interval)))


def pacer() -> Pacer:
    rate = app_settings.RATE_LIMIT_PER_SECOND
    return Pacer(float(rate) if rate else None)


def kill_switch_reason(now: dt.datetime) -> str | None:
    """Why marketing sends are paused (bounce or complaint rate too high), or None."""
    config = app_settings.KILL_SWITCH
    if not config:
        return None
    since = now - dt.timedelta(hours=float(config.get("window_hours", 24)))
    sent = OutboxMessage.objects.filter(
        kind=MessageKind.MARKETING, status=OutboxStatus.SENT, sent_at__gte=since
    ).count()
    if sent < int(config.get("min_sent", 100)):
        return None
    recent = Suppression.objects.filter(created_at__gte=since)
    bounces = recent.filter(reason=SuppressionReason.HARD_BOUNCE).count()
    complaints = recent.filter(reason=SuppressionReason.COMPLAINT).count()
    bounce_limit = float(config.get("bounce_rate", 1))
    complaint_limit = float(config.get("complaint_rate", 1))
    if bounces / sent > bounce_limit:
        return (
            f"marketing sends paused: {bounces} hard bounces for {sent} sent in the window "
            f"({bounces / sent:.1%} > {bounce_limit:.1%})"
        )
    if complaints / sent > complaint_limit:
        return (
            f"marketing sends paused: {complaints} complaints for {sent} sent in the window "
            f"({complaints / sent:.2%} > {complaint_limit:.2%})"
        )
    return None
