"""Creating and updating contacts, consent, suppression, export and erasure."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..conf import app_settings
from ..exceptions import ContactValidationError
from ..models import ConsentChange, ConsentStatus, Contact, ErasureRecord, Event, Suppression
from ..models.contacts import SuppressionReason
from ..validation import email_hash, has_json_nul, normalize_email, validate_time_zone

logger = logging.getLogger(__name__)

_TEXT_FIELDS = {"first_name": 150, "last_name": 150, "locale": 35, "source": 100}


def _clean_text(name: str, value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        raise ContactValidationError(name, f"expected a string, got {type(value).__name__}")
    value = value.strip()
    if len(value) > max_length:
        raise ContactValidationError(name, f"is longer than {max_length} characters")
    if "\x00" in value:
        raise ContactValidationError(name, "contains a NUL character")
    return value


def clean_date(name: str, value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        raise ContactValidationError(name, "expected a date, got a datetime")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ContactValidationError(name, f"expected a date (YYYY-MM-DD), got {value!r}")


def clean_attributes(value: Any, field: str = "attributes") -> dict[str, Any]:
    """Check custom attributes: string keys, JSON values, within the size limit."""
    if not isinstance(value, Mapping):
        raise ContactValidationError(field, f"expected a mapping, got {type(value).__name__}")
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 100:
            raise ContactValidationError(field, f"attribute names are 1-100 characters: {key!r}")
        if isinstance(item, dt.datetime):
            if timezone.is_naive(item):
                raise ContactValidationError(f"{field}.{key}", "datetime must be timezone-aware")
            item = item.astimezone(dt.UTC).isoformat()
        elif isinstance(item, dt.date):
            item = item.isoformat()
        cleaned[key] = item
    try:
        serialised = json.dumps(cleaned, cls=DjangoJSONEncoder)
    except (TypeError, ValueError) as exc:
        raise ContactValidationError(field, f"values must be JSON serialisable ({exc})") from None
    if has_json_nul(serialised):
        raise ContactValidationError(field, "contain a NUL character")
    size = len(serialised)
    limit = app_settings.MAX_EVENT_PROPERTIES_BYTES
    if size > limit:
        raise ContactValidationError(field, f"are {size} bytes serialised; the limit is {limit}")
    return cleaned


def clean_profile(**fields: Any) -> dict[str, Any]:
    """Validate profile fields given to identify() or an import; ``None`` means "leave as is"."""
    cleaned: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in _TEXT_FIELDS:
            cleaned[name] = _clean_text(name, value, _TEXT_FIELDS[name])
        elif name == "time_zone":
            cleaned[name] = validate_time_zone(value)
        elif name in ("birthday", "customer_since"):
            cleaned[name] = clean_date(name, value)
        elif name == "attributes":
            cleaned[name] = clean_attributes(value)
        else:
            raise ContactValidationError(name, "is not a contact field")
    return cleaned


def clean_consent_status(value: Any, field: str = "consent") -> str:
    if value not in ConsentStatus.values:
        raise ContactValidationError(
            field, f"{value!r} is not one of {', '.join(ConsentStatus.values)}"
        )
    return str(value)


#: First-touch fields: a later update never replaces a value already known.
SET_ONCE_FIELDS = frozenset({"source"})


def apply_profile(contact: Contact, cleaned: Mapping[str, Any]) -> list[str]:
    """Copy cleaned fields onto ``contact``; attributes are merged, never replaced.

    ``source`` keeps the first value it was given and ``customer_since`` the earliest date.
    """
    changed = []
    for name, value in cleaned.items():
        current = getattr(contact, name)
        if name == "attributes":
            merged = {**contact.attributes, **value}
            if merged != contact.attributes:
                contact.attributes = merged
                changed.append(name)
            continue
        if current and name in SET_ONCE_FIELDS:
            continue
        if name == "customer_since" and current and value and value >= current:
            continue
        if current != value:
            setattr(contact, name, value)
            changed.append(name)
    return changed


def get_or_create_contact(email: str, **defaults: Any) -> tuple[Contact, bool]:
    """Get the contact for a normalised address, creating it safely under concurrency."""
    try:
        return Contact.objects.get(email=email), False
    except Contact.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return Contact.objects.create(email=email, **defaults), True
    except IntegrityError:
        return Contact.objects.get(email=email), False


def contact_for_user(user: Any, *, create: bool = True) -> Contact | None:
    """The contact linked to a site user, linking (or creating) one by the user's email.

    Staff accounts are only linked to a contact that already exists (unless
    ``TRACK_STAFF``), so logging in to the admin makes no one a marketing contact.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    contact = Contact.objects.filter(user_id=user.pk).first()
    if contact is not None:
        return contact
    raw_email = getattr(user, "email", "") or ""
    if not raw_email:
        return None
    try:
        email = normalize_email(raw_email)
    except ContactValidationError:
        return None
    if not create or (getattr(user, "is_staff", False) and not app_settings.TRACK_STAFF):
        contact = Contact.objects.filter(email=email, user__isnull=True).first()
        if contact is not None:
            Contact.objects.filter(pk=contact.pk, user__isnull=True).update(user=user)
            contact.user = user
        return contact
    contact, created = get_or_create_contact(
        email,
        user=user,
        first_name=(getattr(user, "first_name", "") or "")[:150],
        last_name=(getattr(user, "last_name", "") or "")[:150],
        source="site account",
    )
    if not created and contact.user_id is None:
        Contact.objects.filter(pk=contact.pk, user__isnull=True).update(user=user)
        contact.user = user
    return contact


def set_consent(
    contact: Contact,
    status: str,
    *,
    source: str,
    where: str = "",
    actor: Any = None,
    at: dt.datetime | None = None,
    by_contact: bool = False,
) -> ConsentChange | None:
    """Change a contact's consent and keep an audit row; returns it, or None if unchanged.

    ``by_contact`` says the person acted themselves (a resubscribe in the preference centre):
    only then does subscribing lift a suppression made by an earlier unsubscribe.
    """
    status = clean_consent_status(status, "status")
    source = _clean_text("source", source or "", 200)
    if not source:
        raise ContactValidationError("source", "a consent change needs its source")
    where = _clean_text("where", where or "", 500)
    at = at or timezone.now()
    if contact.consent_status == status:
        return None
    from ..signals import consent_changed

    with transaction.atomic():
        change = ConsentChange.objects.create(
            contact=contact,
            status=status,
            previous_status=contact.consent_status,
            source=source,
            where=where,
            occurred_at=at,
            actor=actor if getattr(actor, "pk", None) else None,
        )
        contact.consent_status = status
        contact.consent_source = source
        contact.consent_where = where
        contact.consent_at = at
        contact.save(
            update_fields=[
                "consent_status",
                "consent_source",
                "consent_where",
                "consent_at",
                "updated_at",
            ]
        )
        if status == ConsentStatus.UNSUBSCRIBED:
            suppress(contact.email, SuppressionReason.UNSUBSCRIBE, detail=source)
        elif status == ConsentStatus.SUBSCRIBED and by_contact:
            Suppression.objects.filter(
                email_hash=contact.email_hash, reason=SuppressionReason.UNSUBSCRIBE
            ).delete()
    transaction.on_commit(
        lambda: consent_changed.send(sender=Contact, contact=contact, change=change)
    )
    return change


def suppress(email: str, reason: str, *, detail: str = "") -> Suppression:
    """Put an address on the suppression list (idempotent; a stronger reason wins)."""
    if reason not in SuppressionReason.values:
        raise ContactValidationError("reason", f"{reason!r} is not a suppression reason")
    digest = email_hash(email)
    suppression, created = Suppression.objects.get_or_create(
        email_hash=digest, defaults={"reason": reason, "detail": detail[:500]}
    )
    if (
        not created
        and suppression.reason == SuppressionReason.UNSUBSCRIBE
        and reason != suppression.reason
    ):
        suppression.reason = reason
        suppression.detail = detail[:500]
        suppression.save(update_fields=["reason", "detail"])
    return suppression


def is_suppressed(email: str) -> bool:
    return Suppression.objects.filter(email_hash=email_hash(email)).exists()


def merge_visitor(contact: Contact, visitor_id: str | None) -> int:
    """Attach an anonymous visitor's events to the contact; returns how many moved."""
    if not visitor_id:
        return 0
    return Event.objects.filter(visitor_id=visitor_id, contact__isnull=True).update(
        contact=contact
    )


def export_contact(contact: Contact) -> dict[str, Any]:
    """Everything the app holds about one contact, as JSON-ready data."""
    return {
        "exported_at": timezone.now().isoformat(),
        "contact": {
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "time_zone": contact.time_zone,
            "locale": contact.locale,
            "birthday": contact.birthday.isoformat() if contact.birthday else None,
            "customer_since": (
                contact.customer_since.isoformat() if contact.customer_since else None
            ),
            "attributes": contact.attributes,
            "source": contact.source,
            "user_id": contact.user_id,
            "consent_status": contact.consent_status,
            "consent_source": contact.consent_source,
            "consent_at": contact.consent_at.isoformat() if contact.consent_at else None,
            "consent_where": contact.consent_where,
            "created_at": contact.created_at.isoformat(),
            "updated_at": contact.updated_at.isoformat(),
        },
        "suppressed": contact.is_suppressed(),
        "consent_history": [
            {
                "status": change.status,
                "previous_status": change.previous_status,
                "source": change.source,
                "where": change.where,
                "occurred_at": change.occurred_at.isoformat(),
            }
            for change in contact.consent_changes.order_by("occurred_at", "id")
        ],
        "events": [
            {
                "type": event.type,
                "occurred_at": event.occurred_at.isoformat(),
                "value": str(event.value) if event.value is not None else None,
                "currency": event.currency,
                "properties": event.properties,
                "visitor_id": event.visitor_id,
            }
            for event in contact.events.order_by("occurred_at", "id").iterator(chunk_size=2000)
        ],
    }


def erase_contact(contact: Contact, *, actor: Any = None, reason: str = "") -> ErasureRecord:
    """Delete a contact with their events and consent history; suppression stays."""
    from ..signals import contact_erased

    digest = contact.email_hash
    with transaction.atomic():
        visitor_ids = list(
            contact.events.exclude(visitor_id=None).values_list("visitor_id", flat=True).distinct()
        )
        events_deleted = contact.events.count()
        # Anonymous events from the same browser are theirs too.
        if visitor_ids:
            events_deleted += Event.objects.filter(
                visitor_id__in=visitor_ids, contact__isnull=True
            ).delete()[0]
        contact.delete()
        record = ErasureRecord.objects.create(
            email_hash=digest,
            erased_by=actor if getattr(actor, "pk", None) else None,
            events_deleted=events_deleted,
            reason=reason[:200],
        )
    transaction.on_commit(
        lambda: contact_erased.send(sender=Contact, email_hash=digest, record=record)
    )
    return record
