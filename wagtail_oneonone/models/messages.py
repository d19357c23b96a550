"""The outbox: one row per intended email, and the email templates sources send."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from .contacts import Contact


class MessageKind(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    TRANSACTIONAL = "transactional", _("Transactional")


class OutboxStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    CLAIMED = "claimed", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    UNKNOWN = "unknown", _("Outcome unknown")


class EmailTemplate(models.Model):
    """Subject, preview text and bodies written in the sandboxed Jinja2 dialect.

    ``revision`` goes up on every save, so compiled templates are cached per revision.
    """

    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(
        _("kind"), max_length=16, choices=MessageKind.choices, default=MessageKind.MARKETING
    )
    topic = models.CharField(
        _("topic"),
        max_length=50,
        blank=True,
        help_text=_("Contacts who opted out of this topic do not get it."),
    )
    subject = models.CharField(_("subject"), max_length=500)
    preheader = models.CharField(_("preview text"), max_length=500, blank=True)
    html_body = models.TextField(_("HTML body"))
    text_body = models.TextField(
        _("text body"), blank=True, help_text=_("Left empty, it is made from the HTML body.")
    )
    from_email = models.CharField(_("from"), max_length=320, blank=True)
    reply_to = models.CharField(_("reply to"), max_length=320, blank=True)
    revision = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("email template")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            self.revision = (
                EmailTemplate.objects.filter(pk=self.pk).values_list("revision", flat=True).first()
                or 0
            ) + 1
        super().save(*args, **kwargs)


class OutboxQuerySet(models.QuerySet["OutboxMessage"]):
    def due(self, now: Any) -> OutboxQuerySet:
        return self.filter(status=OutboxStatus.QUEUED, scheduled_at__lte=now)

    def expired_leases(self, now: Any) -> OutboxQuerySet:
        return self.filter(status=OutboxStatus.CLAIMED, lease_expires_at__lt=now)


class OutboxMessage(models.Model):
    """An email the app means to send; the idempotency key makes it exist at most once."""

    Status = OutboxStatus
    Kind = MessageKind

    id = models.BigAutoField(primary_key=True)
    # Indexed by (contact, sent_at) below, which serves what an index of its own would.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    source_type = models.CharField(max_length=32)
    source_id = models.CharField(max_length=64)
    # Unique by the constraint below (``unique=True`` would add a second, LIKE-pattern
    # index on PostgreSQL that nothing uses and every insert pays for).
    idempotency_key = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.QUEUED
    )
    scheduled_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    # Set, and committed, just before the message goes to the email backend: a lease that
    # expires with it set means the outcome is unknown, and the message is not resent.
    handed_off_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)
    trigger_event = models.ForeignKey(
        "wagtail_oneonone.Event",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    context = models.JSONField(default=dict, blank=True)
    esp_message_id = models.CharField(max_length=255, blank=True)
    message_id_header = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        ordering = ["-scheduled_at", "-id"]
        indexes = [
            # Serves the claim's ORDER BY scheduled_at, id without sorting the backlog.
            models.Index(fields=["status", "scheduled_at", "id"], name="oneonone_outbox_due"),
            models.Index(fields=["contact", "sent_at"], name="oneonone_outbox_contact"),
            models.Index(fields=["source_type", "source_id"], name="oneonone_outbox_source"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="oneonone_outbox_key"),
        ]

    def __str__(self) -> str:
        return f"{self.source_type}:{self.source_id} → contact {self.contact_id} ({self.status})"


class SentContent(models.Model):
    """Exactly what was handed to the email backend, for the admin's message page."""

    message = models.OneToOneField(
        OutboxMessage, on_delete=models.CASCADE, primary_key=True, related_name="content"
    )
    html = models.TextField(blank=True)
    text = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("sent content")

    def __str__(self) -> str:
        return f"content of message {self.message_id}"
