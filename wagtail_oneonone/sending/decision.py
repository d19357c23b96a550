"""The send-time decision: whether a claimed message goes now, later, or not at all.

Every rule lives here and runs when the message is claimed, not when it was queued, so an
opt-out, a pause or a purchase a second before the send still wins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from ..conf import app_settings
from ..models import ConsentStatus, Contact, MessageKind, OutboxMessage, OutboxStatus, Suppression
from ..models.contacts import EmailFrequency, SuppressionReason

SEND = "send"
SKIP = "skip"
DEFER = "defer"

#: What a contact's frequency preference allows: one marketing email per this many days.
_FREQUENCY_DAYS = {EmailFrequency.WEEKLY: 7, EmailFrequency.MONTHLY: 30}


@dataclass(frozen=True)
class SendDecision:
    action: str  # SEND, SKIP or DEFER
    reason: str = ""
    defer_until: dt.datetime | None = None

    @property
    def sends(self) -> bool:
        return self.action == SEND


def send() -> SendDecision:
    return SendDecision(SEND)


def skip(reason: str) -> SendDecision:
    return SendDecision(SKIP, reason)


def defer(until: dt.datetime, reason: str) -> SendDecision:
    return SendDecision(DEFER, reason, until)


def contact_zone(contact: Contact) -> ZoneInfo:
    for name in (contact.time_zone, app_settings.default_time_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def quiet_hours_end(contact: Contact, now: dt.datetime) -> dt.datetime | None:
    """When the contact's quiet hours end, if ``now`` falls inside them (else None)."""
    quiet = app_settings.QUIET_HOURS
    if not quiet:
        return None
    start, end = int(quiet["start"]), int(quiet["end"])
    if start == end:
        return None
    zone = contact_zone(contact)
    local = now.astimezone(zone)
    hour = local.hour
    inside = (start <= hour or hour < end) if start > end else (start <= hour < end)
    if not inside:
        return None
    day = local.date() if hour < end else local.date() + dt.timedelta(days=1)
    # Wall-clock end on that day, resolved in the zone (DST-correct), then back to UTC.
    wake = dt.datetime.combine(day, dt.time(end), tzinfo=zone)
    return wake.astimezone(dt.UTC)


#: The contact's fields a send depends on, read again just before each send.
FRESH_FIELDS = ("consent_status", "paused_until", "topics_opted_out", "email_frequency")


def refresh_for_send(contact: Contact) -> str | None:
    """Reload what may have changed since the batch was loaded; returns the suppression.

    One query: the contact's consent and preferences with its suppression reason, so an
    opt-out committed a moment ago still wins.
    """
    suppression = Suppression.objects.filter(email_hash=OuterRef("email_hash")).values("reason")
    row = (
        Contact.objects.filter(pk=contact.pk)
        .annotate(suppression=Subquery(suppression[:1]))
        .values(*FRESH_FIELDS, "suppression")
        .first()
    )
    if row is None:
        return None
    for name in FRESH_FIELDS:
        setattr(contact, name, row[name])
    return row["suppression"]


def _frequency_check(contact: Contact, message: OutboxMessage, now: dt.datetime) -> str | None:
    cap = app_settings.FREQUENCY_CAP or {}
    window_hours = float(cap.get("window_hours") or 0)
    max_messages = cap.get("max_messages")
    min_gap_hours = float(cap.get("min_gap_hours") or 0)
    preference_days = _FREQUENCY_DAYS.get(EmailFrequency(contact.email_frequency))
    horizon_hours = max(window_hours, min_gap_hours, (preference_days or 0) * 24)
    if not horizon_hours:
        return None
    went = (
        OutboxMessage.objects.filter(
            Q(status__in=[OutboxStatus.SENT, OutboxStatus.UNKNOWN])
            | Q(status=OutboxStatus.CLAIMED, handed_off_at__isnull=False),
            contact_id=contact.pk,
            kind=MessageKind.MARKETING,
        )
        .exclude(pk=message.pk)
        .annotate(went_at=Coalesce("sent_at", "handed_off_at"))
        .filter(went_at__gte=now - dt.timedelta(hours=horizon_hours))
    )
    recent = [when for when in went.values_list("went_at", flat=True) if when is not None]
    if min_gap_hours and any(now - when < dt.timedelta(hours=min_gap_hours) for when in recent):
        return f"frequency cap: another marketing email went out within {min_gap_hours:g} hours"
    if max_messages and window_hours:
        in_window = [when for when in recent if now - when < dt.timedelta(hours=window_hours)]
        if len(in_window) >= int(max_messages):
            return (
                f"frequency cap: {len(in_window)} marketing emails in the last "
                f"{window_hours:g} hours"
            )
    if preference_days and any(now - when < dt.timedelta(days=preference_days) for when in recent):
        return f"the contact asked for at most one email every {preference_days} days"
    return None


def decide(
    message: OutboxMessage,
    contact: Contact,
    *,
    now: dt.datetime,
    topic: str = "",
    source_problem: str | None = None,
) -> SendDecision:
    """Decide for one claimed message; ``source_problem`` says the source is no longer valid."""
    if source_problem:
        return skip(source_problem)
    if message.source_type == "test":
        return send()  # goes to the staff member who asked, not to the contact
    suppression = refresh_for_send(contact)
    if message.kind == MessageKind.TRANSACTIONAL:
        # Receipts go to everyone who can receive them; only a dead address stops them.
        if suppression == SuppressionReason.HARD_BOUNCE:
            return skip("the address bounced (suppressed)")
        return send()
    if contact.consent_status != ConsentStatus.SUBSCRIBED:
        return skip(f"no marketing consent ({contact.get_consent_status_display()})")
    if suppression:
        return skip(f"suppressed ({SuppressionReason(suppression).label.lower()})")
    if contact.paused_until and contact.paused_until > now:
        return skip("the contact paused marketing email")
    if topic and topic in (contact.topics_opted_out or []):
        return skip(f"the contact opted out of the topic {topic!r}")
    capped = _frequency_check(contact, message, now)
    if capped:
        return skip(capped)
    wake = quiet_hours_end(contact, now)
    if wake is not None:
        return defer(wake, "quiet hours in the contact's time zone")
    return send()
