"""Filters for the contacts listing (django-filter, through Wagtail's WagtailFilterSet)."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.contrib import messages
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.widgets import BooleanRadioSelect

from ..exceptions import SegmentRuleError
from ..models import ConsentStatus, Contact, Event, Segment, Suppression
from ..models.contacts import SuppressionReason

NO_TIME_ZONE = "-"


def suppressed_exists() -> Exists:
    return Exists(Suppression.objects.filter(email_hash=OuterRef("email_hash")))


def has_ordered_exists() -> Exists:
    return Exists(Event.objects.filter(contact=OuterRef("pk"), type="order_placed"))


class ContactFilterSet(WagtailFilterSet):
    consent_status = django_filters.ChoiceFilter(
        label=_("Consent"),
        choices=ConsentStatus.choices,
        empty_label=_("All"),
        widget=forms.RadioSelect,
    )
    time_zone = django_filters.ChoiceFilter(
        label=_("Time zone"),
        choices=[],
        empty_label=_("All"),
        method="filter_time_zone",
    )
    has_user = django_filters.BooleanFilter(
        label=_("Has a site account"),
        field_name="user",
        lookup_expr="isnull",
        exclude=True,
        widget=BooleanRadioSelect,
    )
    created_at = django_filters.DateFromToRangeFilter(
        label=_("Created"), widget=DateRangePickerWidget
    )
    suppressed = django_filters.BooleanFilter(
        label=_("Suppressed"), method="filter_suppressed", widget=BooleanRadioSelect
    )
    has_ordered = django_filters.BooleanFilter(
        label=_("Has ordered"), method="filter_has_ordered", widget=BooleanRadioSelect
    )
    segment = django_filters.ModelChoiceFilter(
        label=_("In segment"),
        queryset=Segment.objects.all(),
        empty_label=_("All"),
        method="filter_segment",
    )

    class Meta:
        model = Contact
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The time zones contacts actually have: a short list, unlike every IANA name.
        zones = (
            Contact.objects.exclude(time_zone="")
            .order_by("time_zone")
            .values_list("time_zone", flat=True)
            .distinct()
        )
        self.filters["time_zone"].extra["choices"] = [
            (NO_TIME_ZONE, _("Not set")),
            *((zone, zone) for zone in zones),
        ]

    def filter_time_zone(self, queryset: QuerySet[Contact], name: str, value: str) -> Any:
        if not value:
            return queryset
        return queryset.filter(time_zone="" if value == NO_TIME_ZONE else value)

    def filter_suppressed(self, queryset: QuerySet[Contact], name: str, value: Any) -> Any:
        if value is None:
            return queryset
        return (
            queryset.filter(suppressed_exists())
            if value
            else queryset.exclude(suppressed_exists())
        )

    def filter_segment(self, queryset: QuerySet[Contact], name: str, value: Any) -> Any:
        if value is None:
            return queryset
        try:
            return queryset.filter(pk__in=value.contacts().values("pk"))
        except SegmentRuleError as exc:
            # A broken segment shows no one, and says why, rather than breaking the listing.
            messages.error(
                self.request,
                _("Segment “%(name)s”: %(error)s") % {"name": value.name, "error": exc},
            )
            return queryset.none()

    def filter_has_ordered(self, queryset: QuerySet[Contact], name: str, value: Any) -> Any:
        if value is None:
            return queryset
        return (
            queryset.filter(has_ordered_exists())
            if value
            else queryset.exclude(has_ordered_exists())
        )


class SuppressionFilterSet(WagtailFilterSet):
    reason = django_filters.ChoiceFilter(
        label=_("Reason"),
        choices=SuppressionReason.choices,
        empty_label=_("All"),
        widget=forms.RadioSelect,
    )

    class Meta:
        model = Suppression
        fields: list[str] = []
