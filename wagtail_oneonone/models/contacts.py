"""Contacts, their consent history and the suppression list."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..validation import email_hash


class ConsentStatus(models.TextChoices):
    NONE = "none", _("No marketing consent")
    PENDING = "pending", _("Pending double opt-in")
    SUBSCRIBED = "subscribed", _("Subscribed")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")


class EmailFrequency(models.TextChoices):
    NORMAL = "normal", _("Every email we think you will like")
    WEEKLY = "weekly", _("At most one a week")
    MONTHLY = "monthly", _("At most one a month")


class ContactQuerySet(models.QuerySet["Contact"]):
    def subscribed(self) -> ContactQuerySet:
        return self.filter(consent_status=ConsentStatus.SUBSCRIBED)

    def mailable(self) -> ContactQuerySet:
        """Subscribed and not on the suppression list."""
        suppressed = Suppression.objects.filter(email_hash=models.OuterRef("email_hash"))
        return self.subscribed().exclude(models.Exists(suppressed))

    def search(self, term: str) -> ContactQuerySet:
        term = term.strip()
        if not term:
            return self
        q = models.Q()
        for word in term.split():
            q &= (
                models.Q(email__icontains=word)
                | models.Q(first_name__icontains=word)
                | models.Q(last_name__icontains=word)
            )
        return self.filter(q)


class Contact(models.Model):
    """One person the business may write to; the email is normalised and unique."""

    email = models.CharField(_("email"), max_length=254, unique=True)
    email_hash = models.CharField(max_length=64, editable=False, db_index=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, blank=True, help_text=_("IANA name, e.g. Europe/London")
    )
    locale = models.CharField(_("locale"), max_length=35, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    customer_since = models.DateField(_("customer since"), null=True, blank=True)
    attributes = models.JSONField(
        _("attributes"),
        default=dict,
        encoder=DjangoJSONEncoder,
        blank=True,
        help_text=_("Custom attributes collected over time (progressive profiling)."),
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="oneonone_contact",
    )
    source = models.CharField(
        _("sign-up source"),
        max_length=100,
        blank=True,
        help_text=_("Where the contact came from."),
    )
    consent_status = models.CharField(
        _("consent"), max_length=16, choices=ConsentStatus.choices, default=ConsentStatus.NONE
    )
    consent_source = models.CharField(_("consent source"), max_length=200, blank=True)
    consent_at = models.DateTimeField(_("consent changed at"), null=True, blank=True)
    consent_where = models.CharField(
        _("consent recorded where"), max_length=500, blank=True, help_text=_("URL, IP or form")
    )
    email_frequency = models.CharField(
        _("email frequency"),
        max_length=16,
        choices=EmailFrequency.choices,
        default=EmailFrequency.NORMAL,
        help_text=_("Chosen by the contact in the preference centre."),
    )
    topics_opted_out = models.JSONField(
        _("topics opted out of"), default=list, blank=True, help_text=_("Topic keys")
    )
    paused_until = models.DateTimeField(_("marketing paused until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("import_contacts", "Can import contacts from CSV"),
            ("export_contact", "Can export a contact's data"),
            ("erase_contact", "Can erase a contact and their data"),
        ]
        indexes = [
            models.Index(fields=["consent_status"], name="oneonone_contact_consent"),
            models.Index(fields=["created_at"], name="oneonone_contact_created"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email_hash = email_hash(self.email)
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def is_suppressed(self) -> bool:
        return Suppression.objects.filter(email_hash=self.email_hash).exists()


class ConsentChange(models.Model):
    """Audit row for every change of a contact's consent (never updated or deleted alone)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_changes")
    status = models.CharField(max_length=16, choices=ConsentStatus.choices)
    previous_status = models.CharField(max_length=16, choices=ConsentStatus.choices, blank=True)
    source = models.CharField(max_length=200)
    where = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("consent change")

    def __str__(self) -> str:
        return f"{self.previous_status or '-'} → {self.status} ({self.source})"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", _("Hard bounce")
    COMPLAINT = "complaint", _("Spam complaint")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
    MANUAL = "manual", _("Added by staff")


class Suppression(models.Model):
    """An address that must not get marketing email, kept by hash so it survives erasure."""

    Reason = SuppressionReason

    email_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=16, choices=SuppressionReason.choices)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("suppression")

    def __str__(self) -> str:
        return f"{self.email_hash[:12]}… ({self.reason})"


class ErasureRecord(models.Model):
    """Proof that a contact was erased, without keeping who they were."""

    email_hash = models.CharField(max_length=64, db_index=True)
    erased_at = models.DateTimeField(auto_now_add=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    events_deleted = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"Erased {self.email_hash[:12]}… at {self.erased_at:%Y-%m-%d %H:%M}"
