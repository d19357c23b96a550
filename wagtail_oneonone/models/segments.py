"""Segments: named rule trees, evaluated when used, and the history of their counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from .contacts import Contact


def _empty_rules() -> dict[str, Any]:
    return {"version": 1, "rules": {"all": []}}


class Segment(models.Model):
    """A rule tree over contacts and their events; membership is computed when asked."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    slug = models.SlugField(
        _("slug"),
        max_length=100,
        unique=True,
        help_text=_('Templates ask for it: {{ contact.in_segment("vip") }}.'),
    )
    description = models.TextField(_("description"), blank=True)
    rules = models.JSONField(_("rules"), default=_empty_rules)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def contacts(self, now: dt.datetime | None = None) -> models.QuerySet[Contact]:
        """The members at ``now`` (default: this moment), as a lazy queryset."""
        from ..segments.membership import segment_contacts

        return segment_contacts(self, now=now)


class SegmentCount(models.Model):
    """How many contacts a segment had at a moment; recorded daily and on every save."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="counts")
    counted_at = models.DateTimeField()
    count = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("segment count")
        ordering = ["-counted_at"]
        indexes = [models.Index(fields=["segment", "counted_at"], name="oneonone_segcount_time")]

    def __str__(self) -> str:
        return f"{self.count} at {self.counted_at:%Y-%m-%d %H:%M}"
