"""Flows: a trigger, an optional entry filter, a re-entry policy, a goal and ordered steps;
and each contact's enrollment in a flow, with the log of what happened to it."""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.fields import StreamField

from ..flows.blocks import FlowStepsBlock, with_step_ids
from .campaigns import EmailLayout
from .contacts import Contact
from .messages import MessageKind


class FlowStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")


class TriggerType(models.TextChoices):
    EVENT = "event", _("The contact did something (an event)")
    SEGMENT_ENTERED = "segment_entered", _("The contact entered a segment")
    DATE = "date", _("A date of the contact's comes round (birthday, anniversary)")
    ENGAGEMENT = "engagement", _("The contact's engagement changed")


class DateField(models.TextChoices):
    BIRTHDAY = "birthday", _("Birthday")
    CUSTOMER_SINCE = "customer_since", _("Customer since")
    SIGNED_UP = "created_at", _("Signed up")
    ATTRIBUTE = "attribute", _("A date attribute")


class EngagementChange(models.TextChoices):
    BECAME_DORMANT = "became_dormant", _("Became dormant")
    BECAME_ACTIVE = "became_active", _("Became active again")


class Reentry(models.TextChoices):
    ONCE = "once", _("Once ever")
    EVERY_N_DAYS = "every_n_days", _("Again after some days")
    EVERY_TIME = "every_time", _("Every time it is triggered")


class Flow(models.Model):
    """A behavioural sequence: ``steps`` run for each contact the trigger enrolls."""

    Status = FlowStatus

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=FlowStatus.choices, default=FlowStatus.DRAFT
    )
    builtin = models.CharField(
        max_length=50, blank=True, editable=False, help_text="The built-in flow it came from."
    )
    trigger_type = models.CharField(
        _("trigger"), max_length=20, choices=TriggerType.choices, default=TriggerType.EVENT
    )
    trigger_event_type = models.CharField(_("event"), max_length=64, blank=True)
    trigger_filters = models.JSONField(
        _("event filters"),
        default=list,
        blank=True,
        help_text=_(
            'As in segments: [{"property": "category", "type": "text", "operator": "equals", '
            '"value": "shoes"}]'
        ),
    )
    trigger_count = models.PositiveSmallIntegerField(
        _("times"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Enrol on the n-th such event within the window (e.g. viewed twice)."),
    )
    trigger_window_hours = models.PositiveIntegerField(
        _("within hours"), null=True, blank=True, help_text=_("For counts above one.")
    )
    trigger_segment = models.ForeignKey(
        "wagtail_oneonone.Segment",
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    trigger_date_field = models.CharField(
        _("date"), max_length=20, choices=DateField.choices, blank=True
    )
    trigger_attribute = models.CharField(_("date attribute"), max_length=100, blank=True)
    trigger_time = models.TimeField(
        _("at local time"), null=True, blank=True, help_text=_("On the contact's clock.")
    )
    trigger_days_before = models.PositiveSmallIntegerField(
        _("days before"), default=0, validators=[MaxValueValidator(60)]
    )
    trigger_engagement = models.CharField(
        _("engagement change"), max_length=20, choices=EngagementChange.choices, blank=True
    )
    entry_segment = models.ForeignKey(
        "wagtail_oneonone.Segment",
        verbose_name=_("only contacts in"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Optional: only contacts in this segment enter."),
    )
    reentry = models.CharField(
        _("a contact may enter"), max_length=20, choices=Reentry.choices, default=Reentry.ONCE
    )
    reentry_days = models.PositiveSmallIntegerField(
        _("days before entering again"), null=True, blank=True
    )
    goal_event_type = models.CharField(
        _("goal: an event"),
        max_length=64,
        blank=True,
        help_text=_(
            "The flow ends for a contact who does this after entering, e.g. order_placed."
        ),
    )
    goal_filters = models.JSONField(_("goal event filters"), default=list, blank=True)
    goal_left_segment = models.ForeignKey(
        "wagtail_oneonone.Segment",
        verbose_name=_("goal: left the segment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    kind = models.CharField(
        _("kind"), max_length=16, choices=MessageKind.choices, default=MessageKind.MARKETING
    )
    topic = models.CharField(_("topic"), max_length=50, blank=True)
    from_email = models.CharField(_("from"), max_length=320, blank=True)
    reply_to = models.CharField(_("reply to"), max_length=320, blank=True)
    layout = models.ForeignKey(
        EmailLayout,
        verbose_name=_("layout"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="flows",
    )
    steps = StreamField(FlowStepsBlock(), verbose_name=_("steps"), blank=True)
    #: When the flow was last turned on: events before it never trigger it, so turning on a
    #: flow does not answer the whole history of the log.
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: Why the flow paused itself (its trigger could not be evaluated); empty when a person
    #: paused it. Cleared when it is turned on again.
    paused_reason = models.TextField(blank=True, editable=False)
    #: When a segment or engagement trigger last compared its members (None: never, so
    #: its first look only notes who is in, without enrolling them).
    trigger_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: Goes up on every save: email steps' compiled templates are cached per revision.
    revision = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("flow")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            current = Flow.objects.filter(pk=self.pk).values_list("revision", flat=True)
            self.revision = (current.first() or 0) + 1
        if self.status == FlowStatus.ACTIVE:
            self.paused_reason = ""
            was = Flow.objects.filter(pk=self.pk).values_list("status", flat=True).first()
            turned_on = was != FlowStatus.ACTIVE
            given = was is None and self.activated_at is not None  # created with a time
            if (turned_on and not given) or self.activated_at is None:
                self.activated_at = timezone.now()
        # Every step, nested ones too, is known by its id: give any step without one an id.
        block = FlowStepsBlock()
        self.steps = block.to_python(with_step_ids(block.get_prep_value(self.steps)))
        super().save(*args, **kwargs)


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", _("In the flow")
    COMPLETED = "completed", _("Completed")
    GOAL = "goal", _("Reached the goal")
    EXITED = "exited", _("Left")


class Enrollment(models.Model):
    """One contact's way through one flow, from one trigger."""

    Status = EnrollmentStatus

    id = models.BigAutoField(primary_key=True)
    # Both indexed as the first column of an index below, which serves what their own would.
    flow = models.ForeignKey(
        Flow, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    #: flow + contact + occurrence: a replayed trigger enrolls no one twice (unique by a
    #: constraint: ``unique=True`` would add an unused LIKE-pattern index on PostgreSQL).
    key = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    step_id = models.CharField(max_length=64, blank=True)
    waiting = models.BooleanField(default=False)
    next_run_at = models.DateTimeField(null=True, blank=True)
    trigger_event = models.ForeignKey(
        "wagtail_oneonone.Event",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    context = models.JSONField(default=dict, blank=True)
    entered_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("flow enrollment")
        indexes = [
            models.Index(fields=["status", "next_run_at"], name="oneonone_enrol_due"),
            models.Index(fields=["flow", "status"], name="oneonone_enrol_flow"),
            models.Index(fields=["contact", "flow", "entered_at"], name="oneonone_enrol_contact"),
        ]
        constraints = [models.UniqueConstraint(fields=["key"], name="oneonone_enrol_key")]

    def __str__(self) -> str:
        return f"contact {self.contact_id} in flow {self.flow_id} ({self.status})"


class EnrollmentLog(models.Model):
    """What happened to an enrollment, step by step: the flow page and timeline read it."""

    id = models.BigAutoField(primary_key=True)
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField()
    action = models.CharField(max_length=20)  # entered, step, sent, updated, notified, ...
    step_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    message = models.ForeignKey(
        "wagtail_oneonone.OutboxMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("flow log entry")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["enrollment", "at"], name="oneonone_enrol_log")]

    def __str__(self) -> str:
        return f"{self.action} {self.step_id} at {self.at:%Y-%m-%d %H:%M}"


class FlowCursor(models.Model):
    """How far trigger matching has read the event log (the last event id it handled)."""

    name = models.CharField(max_length=50, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    #: Ids below the cursor not seen yet, with when they were first missed: an insert that
    #: commits late (after later ids were read) is read when it appears. Dropped after a
    #: minute (ids are also used up by inserts that fail).
    gaps = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("flow cursor")

    def __str__(self) -> str:
        return f"{self.name} at event {self.last_event_id}"


class FlowMembership(models.Model):
    """Who was in a segment or engagement trigger's set at its last check: entering it is
    being in it now and not then."""

    id = models.BigAutoField(primary_key=True)
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField()

    class Meta:
        verbose_name = _("flow trigger member")
        constraints = [
            models.UniqueConstraint(fields=["flow", "contact"], name="oneonone_flow_member")
        ]

    def __str__(self) -> str:
        return f"contact {self.contact_id} in the trigger set of flow {self.flow_id}"
