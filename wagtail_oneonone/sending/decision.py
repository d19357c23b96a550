"""The send-time decision: whether a claimed message goes now, later, or not at all.

Every rule lives here and runs when the message is claimed, not when it was queued, so an
opt-out, a pause or a purchase a second before the send still wins. The dispatcher decides
a hand-off group at a time (:class:`SendChecks`): what the rules read is loaded for the
whole group just before it is decided.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
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


def refresh_contacts(contacts: Iterable[Contact]) -> dict[int, str | None]:
    """Reload what may have changed since the batch was loaded; returns each one's suppression.

    One query for all the contacts: their consent and preferences with their suppression
    reason, so an opt-out committed a moment ago still wins. Every instance given is
    updated (one contact may come twice); a contact deleted meanwhile keeps its values.
    """
    by_id: dict[int, list[Contact]] = {}
    for contact in contacts:
        by_id.setdefault(contact.pk, []).append(contact)
    if not by_id:
        return {}
    suppression = Suppression.objects.filter(email_hash=OuterRef("email_hash")).values("reason")
    rows = (
        Contact.objects.filter(pk__in=by_id)
        .annotate(suppression=Subquery(suppression[:1]))
        .values("pk", *FRESH_FIELDS, "suppression")
    )
    suppressions: dict[int, str | None] = {}
    for row in rows:
        for contact in by_id[row["pk"]]:
            for name in FRESH_FIELDS:
                setattr(contact, name, row[name])
        suppressions[row["pk"]] = row["suppression"]
    return suppressions


def _horizon_hours(contact: Contact) -> float:
    """How far back the caps and the contact's frequency preference look (0: not at all)."""
    cap = app_settings.FREQUENCY_CAP or {}
    preference_days = _FREQUENCY_DAYS.get(EmailFrequency(contact.email_frequency)) or 0
    return max(
        float(cap.get("window_hours") or 0),
        float(cap.get("min_gap_hours") or 0),
        preference_days * 24,
    )


def recent_marketing_sends(
    contact_ids: Collection[int],
    *,
    since: dt.datetime,
    excluding: Collection[int] = (),
) -> dict[int, list[dt.datetime]]:
    """When marketing email went to each contact since ``since``, in one query.

    Sent, unknown (it may have gone) and handed off (going now, perhaps by another
    worker) all count; the messages being decided (``excluding``) do not.
    """
    if not contact_ids:
        return {}
    went = (
        OutboxMessage.objects.filter(
            Q(status__in=[OutboxStatus.SENT, OutboxStatus.UNKNOWN])
            | Q(status=OutboxStatus.CLAIMED, handed_off_at__isnull=False),
            contact_id__in=contact_ids,
            kind=MessageKind.MARKETING,
        )
        .exclude(pk__in=excluding)
        .annotate(went_at=Coalesce("sent_at", "handed_off_at"))
        .filter(went_at__gte=since)
    )
    times: dict[int, list[dt.datetime]] = {}
    for contact_id, when in went.values_list("contact_id", "went_at"):
        if when is not None:
            times.setdefault(contact_id, []).append(when)
    return times


def frequency_problem(
    contact: Contact, recent: Sequence[dt.datetime], now: dt.datetime, *, capped: bool = True
) -> str | None:
    """Why one more marketing email to ``contact`` now breaks a cap or its preference.

    With ``capped`` False (an email its source sends whatever the shop's cap, such as a
    flow's thank-you for an order just placed) only the contact's own preference counts.
    """
    cap = (app_settings.FREQUENCY_CAP or {}) if capped else {}
    window_hours = float(cap.get("window_hours") or 0)
    max_messages = cap.get("max_messages")
    min_gap_hours = float(cap.get("min_gap_hours") or 0)
    preference_days = _FREQUENCY_DAYS.get(EmailFrequency(contact.email_frequency))
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


class SendChecks:
    """The send-time rules for a group of claimed messages, with what they read loaded at once.

    :meth:`load` reads the contacts' consent, preferences and suppression in one query and
    their recent marketing email in another, just before the group is decided, so an
    opt-out committed before then wins. :meth:`going` counts a message the group is about
    to send: a second message to the same contact in the group meets the caps too.
    """

    def __init__(
        self,
        now: dt.datetime,
        suppressions: dict[int, str | None],
        went: dict[int, list[dt.datetime]],
    ) -> None:
        self.now = now
        self.suppressions = suppressions
        self.went = went

    @classmethod
    def load(
        cls, items: Sequence[tuple[OutboxMessage, Contact]], *, now: dt.datetime
    ) -> SendChecks:
        """Read what deciding ``(message, contact)`` pairs needs; refreshes the contacts."""
        checked = [(message, contact) for message, contact in items if not _is_test(message)]
        suppressions = refresh_contacts(contact for _, contact in checked)
        horizons = {
            contact.pk: _horizon_hours(contact)
            for message, contact in checked
            if message.kind == MessageKind.MARKETING
        }
        horizon = max(horizons.values(), default=0.0)
        went = (
            recent_marketing_sends(
                [contact_id for contact_id, hours in horizons.items() if hours],
                since=now - dt.timedelta(hours=horizon),
                excluding=[message.pk for message, _ in items],
            )
            if horizon
            else {}
        )
        return cls(now, suppressions, went)

    def decide(
        self,
        message: OutboxMessage,
        contact: Contact,
        *,
        topic: str = "",
        source_problem: str | None = None,
        capped: bool = True,
    ) -> SendDecision:
        """Decide for one message of the group; ``source_problem`` says its source ended,
        ``capped`` False that the shop's frequency cap does not hold it back (the contact's
        own frequency preference still does)."""
        if source_problem:
            return skip(source_problem)
        if _is_test(message):
            return send()  # goes to the staff member who asked, not to the contact
        suppression = self.suppressions.get(contact.pk)
        if message.kind == MessageKind.TRANSACTIONAL:
            # Receipts go to everyone who can receive them; only a dead address stops them.
            if suppression == SuppressionReason.HARD_BOUNCE:
                return skip("the address bounced (suppressed)")
            return send()
        if contact.consent_status != ConsentStatus.SUBSCRIBED:
            return skip(f"no marketing consent ({contact.get_consent_status_display()})")
        if suppression:
            return skip(f"suppressed ({SuppressionReason(suppression).label.lower()})")
        if contact.paused_until and contact.paused_until > self.now:
            return skip("the contact paused marketing email")
        if topic and topic in (contact.topics_opted_out or []):
            return skip(f"the contact opted out of the topic {topic!r}")
        too_often = frequency_problem(
            contact, self.went.get(contact.pk, []), self.now, capped=capped
        )
        if too_often:
            return skip(too_often)
        wake = quiet_hours_end(contact, self.now)
        if wake is not None:
            return defer(wake, "quiet hours in the contact's time zone")
        return send()

    def going(self, message: OutboxMessage) -> None:
        """``message`` goes out with this group: later messages to its contact count it."""
        if message.kind == MessageKind.MARKETING and not _is_test(message):
            self.went.setdefault(message.contact_id, []).append(self.now)


def _is_test(message: OutboxMessage) -> bool:
    # Late import: sources imports rendering, which the decision does not need.
    from .sources import delivers_to_staff

    return delivers_to_staff(message)


def decide(
    message: OutboxMessage,
    contact: Contact,
    *,
    now: dt.datetime,
    topic: str = "",
    source_problem: str | None = None,
) -> SendDecision:
    """Decide for one claimed message, reading the contact's current state first."""
    if source_problem:
        return skip(source_problem)
    return SendChecks.load([(message, contact)], now=now).decide(message, contact, topic=topic)
