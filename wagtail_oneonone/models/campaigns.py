"""Campaigns: one send to an audience, each copy written for its reader; and email layouts.

A :class:`Campaign` is content: Wagtail keeps its revisions, drafts, locks and workflow
approval. Its sending lives apart, in :class:`CampaignSend`: publishing an old revision
must never rewind a send's progress, and what is sent is the revision approved when the
send was scheduled, not whatever the editor types afterwards.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalManyToManyField
from modelcluster.models import ClusterableModel
from wagtail.fields import RichTextField, StreamField
from wagtail.images import get_image_model_string
from wagtail.models import (
    DraftStateMixin,
    LockableMixin,
    PreviewableMixin,
    RevisionMixin,
    WorkflowMixin,
)

from ..blocks import EmailBodyBlock
from .messages import MessageKind

_colour = RegexValidator(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$", _("Use a colour like #1a2b3c."))

#: Reply-To addresses nobody reads: a campaign's replies must reach a person.
NO_REPLY_WORDS = ("noreply", "no-reply", "no_reply", "donotreply", "do-not-reply")


def _colour_field(label: Any, default: str) -> models.CharField[str, str]:
    return models.CharField(label, max_length=7, default=default, validators=[_colour])


class EmailLayout(models.Model):  # type: ignore[django-manager-missing]  # Campaign is not typed by the plugin (ClusterableModel)
    """What surrounds a campaign's blocks: logo, colours, and the footer the law asks for."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    is_default = models.BooleanField(
        _("default layout"),
        default=False,
        help_text=_("Campaigns without a layout of their own use this one."),
    )
    postal_address = models.TextField(
        _("postal address"),
        help_text=_("Shown in every email's footer: anti-spam laws require it."),
    )
    logo = models.ForeignKey(
        get_image_model_string(),
        verbose_name=_("logo"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    logo_width = models.PositiveSmallIntegerField(
        _("logo width"),
        default=160,
        validators=[MinValueValidator(16), MaxValueValidator(600)],
        help_text=_("In pixels; the image is made twice as wide for sharp screens."),
    )
    link_url = models.URLField(
        _("logo links to"), blank=True, help_text=_("Left empty, the site's home page.")
    )
    footer = RichTextField(
        _("footer"),
        blank=True,
        features=["bold", "italic", "link"],
        help_text=_("Above the address and the unsubscribe link, which every email gets anyway."),
    )
    brand_colour = _colour_field(_("brand colour"), "#2563eb")
    button_text_colour = _colour_field(_("button text colour"), "#ffffff")
    background = _colour_field(_("background"), "#f3f4f6")
    content_background = _colour_field(_("content background"), "#ffffff")
    text_colour = _colour_field(_("text colour"), "#1f2933")
    muted_colour = _colour_field(_("muted text colour"), "#6b7280")
    dark_background = _colour_field(_("dark mode background"), "#111315")
    dark_content_background = _colour_field(_("dark mode content background"), "#1c1f23")
    dark_text_colour = _colour_field(_("dark mode text colour"), "#e5e7eb")
    dark_muted_colour = _colour_field(_("dark mode muted text colour"), "#9ca3af")
    font_family = models.CharField(
        _("font family"),
        max_length=200,
        default="-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif",
        validators=[RegexValidator(r"^[\w\s,'\"-]{1,200}$", _("Letters, commas and quotes."))],
    )
    language = models.CharField(_("language"), max_length=20, default="en")
    unsubscribe_label = models.CharField(
        _("unsubscribe link text"), max_length=100, default="Unsubscribe"
    )
    preferences_label = models.CharField(
        _("preferences link text"), max_length=100, default="Email preferences"
    )
    revision = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("email layout")
        ordering = ["-is_default", "name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            # Bodies built with the old layout are cached per revision: a change rebuilds them.
            current = EmailLayout.objects.filter(pk=self.pk).values_list("revision", flat=True)
            self.revision = (current.first() or 0) + 1
        super().save(*args, **kwargs)
        if self.is_default:
            EmailLayout.objects.exclude(pk=self.pk).filter(is_default=True).update(
                is_default=False
            )


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")


class Campaign(
    PreviewableMixin,
    WorkflowMixin,
    DraftStateMixin,
    LockableMixin,
    RevisionMixin,
    ClusterableModel,
):
    """One email to an audience; every copy is rendered for its reader."""

    name: models.CharField[str, str] = models.CharField(
        _("name"), max_length=255, help_text=_("For you; recipients never see it.")
    )
    audience = ParentalManyToManyField(
        "wagtail_oneonone.Segment",
        verbose_name=_("send to"),
        related_name="campaigns",
        help_text=_("Contacts in any of these segments get the campaign."),
    )
    exclusions = ParentalManyToManyField(
        "wagtail_oneonone.Segment",
        verbose_name=_("but not to"),
        related_name="excluded_from_campaigns",
        blank=True,
        help_text=_("Contacts in any of these segments do not, even if in the audience."),
    )
    subject: models.CharField[str, str] = models.CharField(
        _("subject"),
        max_length=500,
        help_text=_("Personalise with tags: {{ contact.first_name|default('there', true) }}"),
    )
    preheader: models.CharField[str, str] = models.CharField(
        _("preview text"),
        max_length=500,
        blank=True,
        help_text=_("Shown after the subject in most inboxes."),
    )
    from_email: models.CharField[str, str] = models.CharField(
        _("from"),
        max_length=320,
        blank=True,
        help_text=_('"Shop name <hello@example.com>"; left empty, the site\'s sender.'),
    )
    reply_to: models.CharField[str, str] = models.CharField(
        _("reply to"),
        max_length=320,
        blank=True,
        help_text=_("A real person's address: replies are the best signal an email gets."),
    )
    topic: models.CharField[str, str] = models.CharField(
        _("topic"),
        max_length=50,
        blank=True,
        help_text=_("Contacts who opted out of this topic do not get it."),
    )
    layout: models.ForeignKey[EmailLayout | None, EmailLayout | None] = models.ForeignKey(
        EmailLayout,
        verbose_name=_("layout"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text=_("Left empty, the default layout."),
    )
    body = StreamField(EmailBodyBlock(), verbose_name=_("body"), blank=True)
    created_at: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField(
        auto_now_add=True
    )
    updated_at: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField(
        auto_now=True
    )

    workflow_states = GenericRelation(
        "wagtailcore.WorkflowState",
        content_type_field="base_content_type",
        object_id_field="object_id",
        related_query_name="oneonone_campaign",
        for_concrete_model=False,
    )
    revisions = GenericRelation(
        "wagtailcore.Revision",
        content_type_field="base_content_type",
        object_id_field="object_id",
        related_query_name="oneonone_campaign",
        for_concrete_model=False,
    )

    class Meta:
        verbose_name = _("campaign")
        ordering = ["-updated_at"]
        permissions = [("send_campaign", "Can schedule and send campaigns")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        reply_to = self.reply_to.lower()
        if any(word in reply_to for word in NO_REPLY_WORDS):
            raise ValidationError(
                {"reply_to": _("Use an address someone reads: replies are how customers talk.")}
            )

    @property
    def kind(self) -> str:
        return MessageKind.MARKETING

    @property
    def status(self) -> str:
        send = CampaignSend.objects.filter(campaign_id=self.pk).values_list("status", flat=True)
        return send.first() or CampaignStatus.DRAFT

    def get_preview_template(self, request: Any, mode_name: str) -> str:
        return "wagtail_oneonone/admin/campaign_preview_frame.html"

    def get_preview_context(self, request: Any, mode_name: str) -> dict[str, Any]:
        # Late imports: rendering imports the models. The admin's permission question is
        # asked here because only the admin's live preview calls this.
        from ..admin.permissions import user_can_view_contacts
        from ..campaigns.preview import preview_frame_context

        may_see = user_can_view_contacts(getattr(request, "user", None))
        return preview_frame_context(self, request, may_see_contacts=may_see)


class SendMode(models.TextChoices):
    NOW = "now", _("Now")
    AT = "at", _("At a time")
    LOCAL = "local", _("At a local time in each contact's time zone")
    SPREAD = "spread", _("Spread over some hours")


class CampaignSend(models.Model):
    """A campaign's one send: when, which approved revision, and how far it has got."""

    Status = CampaignStatus
    Mode = SendMode

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, primary_key=True, related_name="send"
    )
    revision = models.ForeignKey(
        "wagtailcore.Revision", on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.SCHEDULED
    )
    mode = models.CharField(max_length=16, choices=SendMode.choices, default=SendMode.NOW)
    #: NOW: when it was asked for; AT: the send time; SPREAD: the start of the spread.
    send_at = models.DateTimeField()
    #: LOCAL: the wall-clock date and time in each contact's zone.
    local_date = models.DateField(null=True, blank=True)
    local_time = models.TimeField(null=True, blank=True)
    spread_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(72)]
    )
    #: When queueing may start (ahead of the first message's time).
    queue_from = models.DateTimeField()
    scheduled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    scheduled_at = models.DateTimeField(auto_now_add=True)
    audience_size = models.PositiveIntegerField(null=True, blank=True)
    queued = models.PositiveIntegerField(default=0)
    queue_started_at = models.DateTimeField(null=True, blank=True)
    queue_finished_at = models.DateTimeField(null=True, blank=True)
    #: The worker queueing the send holds it until then (renewed every batch); a worker
    #: that dies lets another resume, and the outbox's keys drop what was already queued.
    queue_lease_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("campaign send")
        indexes = [models.Index(fields=["status", "queue_from"], name="oneonone_send_due")]

    def __str__(self) -> str:
        return f"send of campaign {self.campaign_id} ({self.status})"
