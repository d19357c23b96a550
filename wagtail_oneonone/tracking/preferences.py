"""What the unsubscribe page and the preference centre do, as plain functions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ..conf import app_settings
from ..contacts.services import set_consent, suppress
from ..exceptions import ContactValidationError
from ..models import ConsentChange, ConsentStatus, Contact, Suppression
from ..models.contacts import EmailFrequency, SuppressionReason
from .tokens import LinkToken, read_token

#: Longest pause the preference centre accepts, in weeks.
MAX_PAUSE_WEEKS = 52


def mask_email(email: str) -> str:
    """``ada@example.com`` → ``a***@example.com``: enough to recognise, not to harvest."""
    local, at, domain = email.rpartition("@")
    if not at:
        return email[:1] + "***"
    return f"{local[:1]}***@{domain}"


def link_where(link: LinkToken, fallback: str) -> str:
    """Where a consent change came from, for the audit row."""
    return f"message {link.message_id}" if link.message_id else fallback


def contact_for_link(token: str, purpose: str) -> tuple[LinkToken, Contact | None]:
    """The verified token and its contact (None once erased); raises ``BadToken``."""
    link = read_token(token, purpose)
    return link, Contact.objects.filter(pk=link.contact_id).first()


def suppression_reason(contact: Contact) -> str | None:
    """Why the contact's address is on the suppression list, or None."""
    return (
        Suppression.objects.filter(email_hash=contact.email_hash)
        .values_list("reason", flat=True)
        .first()
    )


def unsubscribe_contact(contact: Contact, *, source: str, where: str) -> ConsentChange | None:
    """Unsubscribe at once and suppress the address; repeating it changes nothing more.

    Returns the audit row, or None when the contact was already unsubscribed (the
    suppression is still made sure of, in case it had been lifted by hand).
    """
    with transaction.atomic():
        # Two one-click POSTs at once (providers retry) must write one audit row.
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        change = set_consent(locked, ConsentStatus.UNSUBSCRIBED, source=source, where=where)
        if change is None:
            suppress(locked.email, SuppressionReason.UNSUBSCRIBE, detail=source)
    _copy_consent(locked, contact)
    return change


@dataclass(frozen=True)
class ResubscribeResult:
    change: ConsentChange | None
    #: The suppression reason still in force (a bounce, a complaint or staff), or None.
    blocked_by: str | None


def resubscribe_contact(contact: Contact, *, where: str) -> ResubscribeResult:
    """The person subscribes again themselves.

    This lifts a suppression made by an unsubscribe, never one made by a bounce, a spam
    complaint or staff: those say the address cannot or must not get email.
    """
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        change = set_consent(
            locked,
            ConsentStatus.SUBSCRIBED,
            source="preference centre",
            where=where,
            by_contact=True,
        )
        if change is None:
            # Already subscribed (e.g. by staff) yet still suppressed by their unsubscribe.
            Suppression.objects.filter(
                email_hash=locked.email_hash, reason=SuppressionReason.UNSUBSCRIBE
            ).delete()
    _copy_consent(locked, contact)
    return ResubscribeResult(change=change, blocked_by=suppression_reason(contact))


def _copy_consent(source: Contact, target: Contact) -> None:
    if source is not target:
        for name in ("consent_status", "consent_source", "consent_where", "consent_at"):
            setattr(target, name, getattr(source, name))


def save_preferences(
    contact: Contact,
    *,
    frequency: str | None = None,
    topics_opted_out: Iterable[str] | None = None,
    pause_weeks: int | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Store the choices made in the preference centre; returns the fields that changed.

    ``None`` leaves a choice as it is. Unknown topic keys are dropped; opt-outs of topics
    no longer in ``TOPICS`` are kept, so they hold again if the topic comes back.
    ``pause_weeks=0`` resumes marketing email now. Consent is not touched.
    """
    now = now or timezone.now()
    updates: dict[str, object] = {}
    if frequency is not None:
        if frequency not in EmailFrequency.values:
            raise ContactValidationError(
                "email_frequency", f"{frequency!r} is not one of {', '.join(EmailFrequency)}"
            )
        updates["email_frequency"] = frequency
    if topics_opted_out is not None:
        topics = list(app_settings.TOPICS)
        chosen = set(topics_opted_out)
        current = contact.topics_opted_out if isinstance(contact.topics_opted_out, list) else []
        updates["topics_opted_out"] = [key for key in topics if key in chosen] + [
            key for key in current if key not in topics
        ]
    if pause_weeks is not None:
        if isinstance(pause_weeks, bool) or not 0 <= pause_weeks <= MAX_PAUSE_WEEKS:
            raise ContactValidationError(
                "paused_until", f"a pause is 0 to {MAX_PAUSE_WEEKS} weeks, not {pause_weeks!r}"
            )
        updates["paused_until"] = now + dt.timedelta(weeks=pause_weeks) if pause_weeks else None
    changed = [name for name, value in updates.items() if getattr(contact, name) != value]
    if changed:
        for name in changed:
            setattr(contact, name, updates[name])
        contact.save(update_fields=[*changed, "updated_at"])
    return changed


def is_paused(contact: Contact, now: dt.datetime | None = None) -> bool:
    return contact.paused_until is not None and contact.paused_until > (now or timezone.now())
