"""Segments in the admin: the listing, the builder's form and live preview, the segment
page (rules in words, members, count over time), the CSV export and a guarded delete.

Contact details (the builder's sample, the members list, the export) are shown only to
users who may see contacts; the export also needs the contact ``export`` permission.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import DatabaseError, connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import View
from wagtail.admin import messages
from wagtail.admin.ui.tables import Column, DateColumn, TitleColumn
from wagtail.admin.views import generic
from wagtail.admin.views.generic.base import BaseObjectMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.admin.widgets.button import Button
from wagtail.log_actions import log

from ..campaigns.references import campaigns_using
from ..exceptions import SegmentRuleError
from ..flows.references import flows_using
from ..models import Campaign, Contact, Flow, Segment, SegmentCount
from ..segments.membership import record_count, segment_contacts
from .compat import RegistryPolicyViewMixin, more_button
from .permissions import contact_policy, user_can_view_contacts
from .preview import CONTACT_INSPECT_URL_NAME
from .segment_chart import chart_summary, count_chart
from .segment_rules import preview_rules, segments_using
from .segment_words import describe_rules, rules_in_words

logger = logging.getLogger(__name__)

#: Actions that may build rules, so may ask for live counts.
BUILD_ACTIONS = ("add", "change")
SAMPLE_SIZE = 10
MEMBERS_PER_PAGE = 50
#: The most counts the chart draws (a year of daily counts, plus saves).
CHART_POINTS = 400
#: On PostgreSQL a live count gives up after this long, so a heavy rule cannot pile up.
PREVIEW_TIMEOUT_MS = 10_000
EXPORT_LOG_ACTION = "wagtail_oneonone.export_segment"
EXPORT_COLUMNS = ("email", "first_name", "last_name", "consent_status", "created_at")


def latest_counts(queryset: QuerySet[Segment]) -> QuerySet[Segment]:
    """Segments annotated with their last recorded count and when it was taken."""
    latest = SegmentCount.objects.filter(segment=OuterRef("pk")).order_by("-counted_at")
    return queryset.annotate(
        last_count=Subquery(latest.values("count")[:1]),
        last_counted_at=Subquery(latest.values("counted_at")[:1]),
    )


def summary(segment: Segment) -> str:
    """The description, or, when there is none, the rules in words."""
    return Truncator(segment.description or rules_in_words(segment.rules)).chars(120)


class SegmentIndexView(RegistryPolicyViewMixin, generic.IndexView):
    def get_base_queryset(self) -> QuerySet[Segment]:
        return latest_counts(super().get_base_queryset())

    @cached_property
    def columns(self) -> list[Any]:
        title_column = self._get_title_column_class(TitleColumn)
        return [
            title_column(
                "name",
                label=gettext_lazy("Name"),
                sort_key="name",
                get_url=self.get_inspect_url,
            ),
            Column("description", label=gettext_lazy("Description"), accessor=summary),
            Column(
                "last_count",
                label=gettext_lazy("Last count"),
                sort_key="last_count",
                accessor=lambda segment: "—" if segment.last_count is None else segment.last_count,
            ),
            DateColumn(
                "last_counted_at", label=gettext_lazy("Counted"), sort_key="last_counted_at"
            ),
            DateColumn("updated_at", label=gettext_lazy("Updated"), sort_key="updated_at"),
        ]

    def get_list_more_buttons(self, instance: Segment) -> list[Any]:
        buttons = super().get_list_more_buttons(instance)
        if url := self.get_inspect_url(instance):
            buttons.append(more_button(_("Segment page"), url=url, icon_name="group", priority=5))
        return buttons


class SegmentFormViewMixin:
    """After a save, the segment is counted (so its history starts) and its page shown."""

    inspect_url_name: str | None = None

    def save_instance(self) -> Segment:
        instance: Segment = super().save_instance()  # type: ignore[misc]
        record_count(instance)
        return instance

    def get_success_url(self) -> str:
        assert self.inspect_url_name
        return reverse(self.inspect_url_name, args=(quote(self.object.pk),))  # type: ignore[attr-defined]


class SegmentCreateView(RegistryPolicyViewMixin, SegmentFormViewMixin, generic.CreateView):
    pass


class SegmentEditView(RegistryPolicyViewMixin, SegmentFormViewMixin, generic.EditView):
    pass


class SegmentInspectView(RegistryPolicyViewMixin, generic.InspectView):
    """The segment page: rules in words, the count, members, and the count over time."""

    template_name = "wagtail_oneonone/segments/inspect.html"
    page_title = gettext_lazy("Segment")
    export_url_name: str | None = None
    history_url_name: str | None = None

    def get_fields(self) -> list[str]:
        return []  # the template lays the page out itself

    def export_url(self) -> str:
        if self.export_url_name and user_can_export_members(self.request.user):
            return reverse(self.export_url_name, args=(quote(self.object.pk),))
        return ""

    @cached_property
    def header_more_buttons(self) -> list[Any]:
        buttons = list(super().header_more_buttons)
        if export_url := self.export_url():
            buttons.append(
                Button(
                    _("Export members as CSV"), url=export_url, icon_name="download", priority=15
                )
            )
        if self.history_url_name:
            url = reverse(self.history_url_name, args=(quote(self.object.pk),))
            buttons.append(Button(_("History"), url=url, icon_name="history", priority=30))
        return buttons

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        segment: Segment = self.object
        count: int | None = None
        rule_error = ""
        members_page = None
        can_see_members = user_can_view_contacts(self.request.user)
        try:
            members = segment_contacts(segment)
            if can_see_members:
                paginator = Paginator(
                    members.order_by("email", "pk").only(
                        "pk", "email", "first_name", "last_name", "consent_status"
                    ),
                    MEMBERS_PER_PAGE,
                )
                members_page = paginator.get_page(self.request.GET.get("p"))
                count = paginator.count
            else:
                count = members.count()
        except SegmentRuleError as exc:
            rule_error = str(exc.message)
        history = list(
            segment.counts.order_by("-counted_at").values_list("counted_at", "count")[
                :CHART_POINTS
            ]
        )
        chart = count_chart(history[::-1])
        context.update(
            segment=segment,
            rules_outline=describe_rules(segment.rules),
            count=count,
            rule_error=rule_error,
            can_see_members=can_see_members,
            members_page=members_page,
            contact_url_name=CONTACT_INSPECT_URL_NAME,
            export_url=self.export_url(),
            chart=chart,
            chart_summary=chart_summary(chart) if chart else "",
            recent_counts=history[:20],
            used_by=segments_using(segment),
        )
        return context


class SegmentDeleteView(RegistryPolicyViewMixin, generic.DeleteView):
    """Refuses to delete a segment other segments or unfinished campaigns use, naming them."""

    template_name = "wagtail_oneonone/segments/confirm_delete.html"
    inspect_url_name: str | None = None

    @cached_property
    def used_by(self) -> list[Segment]:
        return segments_using(self.object)

    @cached_property
    def campaigns(self) -> list[Campaign]:
        return campaigns_using(self.object)

    @cached_property
    def flows(self) -> list[Flow]:
        return flows_using(self.object)

    def refusal(self) -> str:
        # Each holder of the segment: who they are, and what to do about it.
        holders: list[tuple[Sequence[Any], str]] = [
            (
                self.used_by,
                _("other segments use it (%(names)s); remove it from their rules first"),
            ),
            (
                self.campaigns,
                _(
                    "campaigns not yet sent use it (%(names)s) as audience, exclusion or in "
                    "a dynamic block; change or cancel them first"
                ),
            ),
            (
                self.flows,
                _(
                    "flows use it (%(names)s) as trigger, entry filter, goal, in a branch or "
                    "in an email's dynamic block; change them first"
                ),
            ),
        ]
        reasons = [
            text % {"names": ", ".join(f"“{holder.name}”" for holder in holders_of)}
            for holders_of, text in holders
            if holders_of
        ]
        return _("“%(name)s” cannot be deleted: %(reasons)s.") % {
            "name": self.object.name,
            "reasons": "; ".join(reasons),
        }

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.used_by or self.campaigns or self.flows:
            messages.error(request, self.refusal())
            if self.inspect_url_name:
                return redirect(self.inspect_url_name, quote(self.object.pk))
            return redirect(self.get_success_url())
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        refused = self.used_by or self.campaigns or self.flows
        context.update(
            used_by=self.used_by,
            campaigns=self.campaigns,
            refusal=self.refusal() if refused else "",
        )
        return context


# The builder's live preview ----------------------------------------------------------------


class SegmentPreviewView(RegistryPolicyViewMixin, PermissionCheckedMixin, View):
    """POST ``{"rules": tree, "segment": id}``: the count of its finished parts, a sample of
    members and every problem, as JSON. Never an error page: the builder shows the message."""

    model = Segment
    any_permission_required = list(BUILD_ACTIONS)
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            payload = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return preview_response(message=_("The request was not JSON."), status=400)
        if not isinstance(payload, dict):
            return preview_response(message=_("The request was not a JSON object."), status=400)
        raw_id = str(payload.get("segment") or "")
        segment_id = int(raw_id) if raw_id.isdigit() else None
        can_see_contacts = user_can_view_contacts(request.user)
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL statement_timeout = {int(PREVIEW_TIMEOUT_MS)}")
                preview = preview_rules(
                    payload.get("rules"),
                    segment_id,
                    sample_size=SAMPLE_SIZE if can_see_contacts else 0,
                )
        except DatabaseError:
            logger.warning("A segment preview failed", exc_info=True)
            return preview_response(
                message=_("The database could not count these rules in time; try again.")
            )
        sample = [
            {
                "email": contact.email,
                "name": contact.full_name,
                "url": reverse(CONTACT_INSPECT_URL_NAME, args=(quote(contact.pk),)),
            }
            for contact in preview.sample
        ]
        return preview_response(
            count=preview.count,
            complete=preview.review.complete,
            sample=sample,
            sample_hidden=not can_see_contacts,
            errors=[problem.as_json() for problem in preview.review.problems],
        )


def preview_response(
    *,
    count: int | None = None,
    complete: bool = False,
    sample: list[dict[str, str]] | None = None,
    sample_hidden: bool = False,
    errors: list[dict[str, str]] | None = None,
    message: str = "",
    status: int = 200,
) -> JsonResponse:
    return JsonResponse(
        {
            "count": count,
            "complete": complete,
            "sample": sample or [],
            "sample_hidden": sample_hidden,
            "errors": errors or [],
            "message": message,
        },
        status=status,
    )


# Exporting members -------------------------------------------------------------------------


def user_can_export_members(user: Any) -> bool:
    """Members leave the admin as a file: that takes the contact ``export`` permission."""
    return bool(contact_policy().user_has_permission(user, "export"))


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_cell(value: Any) -> str:
    # Cells starting with = + - @ are formulas to spreadsheet apps (CSV injection).
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def member_rows(members: QuerySet[Contact]) -> Iterator[str]:
    """The CSV, a line at a time, reading members in chunks (never all at once)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    rows = members.order_by("pk").values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000)
    for email, first_name, last_name, consent_status, created_at in rows:
        yield writer.writerow(
            [
                csv_cell(email),
                csv_cell(first_name),
                csv_cell(last_name),
                consent_status,
                created_at.isoformat() if created_at else "",
            ]
        )


class SegmentExportView(RegistryPolicyViewMixin, PermissionCheckedMixin, BaseObjectMixin, View):
    """GET: the segment's members now, as a streamed CSV download."""

    model = Segment
    any_permission_required = ["add", "change", "delete", "view"]  # as for the segment page
    http_method_names = ["get"]
    inspect_url_name: str | None = None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not user_can_export_members(request.user):
            raise PermissionDenied
        segment: Segment = self.object
        try:
            members = segment_contacts(segment)
        except SegmentRuleError as exc:
            messages.error(
                request,
                _("The members were not exported: the rules are broken (%(error)s).")
                % {"error": exc.message},
            )
            if self.inspect_url_name:
                return redirect(self.inspect_url_name, quote(segment.pk))
            raise
        log(instance=segment, action=EXPORT_LOG_ACTION, user=request.user)
        response = StreamingHttpResponse(
            member_rows(members), content_type="text/csv; charset=utf-8"
        )
        filename = f"segment-{segment.slug}-{timezone.now():%Y%m%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
