"""The event log: one append-only table every later part reads."""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from .contacts import Contact


class EventQuerySet(models.QuerySet["Event"]):
    def of_type(self, *types: str) -> EventQuerySet:
        return self.filter(type__in=types)

    def between(self, start: Any, end: Any) -> EventQuerySet:
        return self.filter(occurred_at__gte=start, occurred_at__lt=end)

    def timeline(self, contact: Contact) -> EventQuerySet:
        return self.filter(contact=contact).order_by("-occurred_at", "-id")


class Event(models.Model):
    """Something a contact (or a not yet identified visitor) did, at a moment in UTC."""

    id = models.BigAutoField(primary_key=True)
    # Indexed as the first column of oneonone_event_contact, which serves what an index
    # of its own would: every index is paid for by the insert in the host's request.
    contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
    )
    visitor_id = models.CharField(max_length=36, null=True, blank=True)
    type = models.CharField(_("type"), max_length=64)
    occurred_at = models.DateTimeField(_("occurred at"))
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    properties = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    # Unique by a constraint below (``unique=True`` adds an unused LIKE-pattern index on
    # PostgreSQL).
    dedup_key = models.CharField(max_length=200, null=True, blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        verbose_name = _("event")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # Per-contact timelines and "did X since Y" lookups.
            models.Index(fields=["contact", "type", "occurred_at"], name="oneonone_event_contact"),
            # "type within a time window" scans for segments and flows; with the contact,
            # "who did it in the window" (segments' semi- and anti-joins) is read from the
            # index alone.
            models.Index(
                fields=["type", "occurred_at", "contact"], name="oneonone_event_type_time_who"
            ),
            # Orders per contact (spend, order count, lifecycle) without visiting the table.
            models.Index(
                fields=["contact", "occurred_at", "value"],
                name="oneonone_event_orders",
                condition=models.Q(type="order_placed"),
            ),
            models.Index(
                fields=["visitor_id"],
                name="oneonone_event_visitor",
                condition=models.Q(visitor_id__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["dedup_key"], name="oneonone_event_dedup_key"),
            models.CheckConstraint(
                condition=models.Q(contact__isnull=False) | models.Q(visitor_id__isnull=False),
                name="oneonone_event_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} at {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise TypeError("Events are append-only; record a new event instead of editing one.")
        super().save(*args, **kwargs)
