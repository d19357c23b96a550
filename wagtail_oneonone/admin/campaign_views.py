"""A campaign's own admin pages: preview as a contact (and a test to yourself), the
campaign page with its progress, and the editor's live audience size. Sending and
cancelling are in ``campaign_schedule``.

Views are thin: what is sent, when and to whom is decided in ``campaigns.services``; the
preview renders with ``campaigns.preview`` exactly as the worker will.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView, View
from wagtail.admin import messages
from wagtail.admin.utils import get_latest_str
from wagtail.admin.views.generic.base import BaseObjectMixin, WagtailAdminTemplateMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.admin.widgets.button import Button

from ..campaigns.content import REVISION_SOURCE
from ..campaigns.preview import SESSION_KEY, render_campaign
from ..campaigns.services import (
    audience_of,
    progress_of,
    sent_revision_of,
)
from ..exceptions import SegmentRuleError
from ..models import (
    Campaign,
    CampaignSend,
    CampaignStatus,
    Contact,
    OutboxStatus,
    Segment,
)
from ..sending.test_sends import send_test_of
from . import campaign_report as report
from .compat import RegistryPolicyViewMixin
from .permissions import message_policy, user_can_view_contacts
from .preview import (
    CONTACT_INSPECT_URL_NAME,
    DESKTOP_WIDTH,
    MAX_CHOICES,
    MOBILE_WIDTH,
    find_contact,
    send_test_and_report,
)

#: Actions that let a user open a campaign's page (previews also need contact access).
READ_ACTIONS = ("add", "change", "delete", "publish", "view", "send")
#: ``wagtail_oneonone.send_campaign``: schedule and cancel sends.
SEND_ACTION = "send"
ACTIVE = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING)


class CampaignPageMixin(
    RegistryPolicyViewMixin, PermissionCheckedMixin, BaseObjectMixin, WagtailAdminTemplateMixin
):
    """A page about one campaign, with links to its other pages."""

    model = Campaign
    any_permission_required: list[str] | None = list(READ_ACTIONS)
    header_icon = "mail"
    index_url_name: str | None = None
    edit_url_name: str | None = None
    report_url_name: str | None = None
    progress_url_name: str | None = None
    preview_as_url_name: str | None = None
    send_test_url_name: str | None = None
    schedule_url_name: str | None = None
    cancel_url_name: str | None = None
    messages_url_name: str | None = None
    object: Campaign

    def url(self, url_name: str | None) -> str:
        return reverse(url_name, args=(quote(self.object.pk),)) if url_name else ""

    @property
    def can_send(self) -> bool:
        return bool(self.user_has_permission(SEND_ACTION))

    def get_page_subtitle(self) -> str:
        return str(get_latest_str(self.object))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        context["campaign"] = self.object
        return context

    def get_breadcrumbs_items(self) -> list[dict[str, Any]]:
        # The last item is the page's heading: "Campaign: Autumn news" (the edit view is
        # in the header's menu).
        items = [*self.breadcrumbs_items]
        if self.index_url_name:
            items.append({"url": reverse(self.index_url_name), "label": _("Campaigns")})
        items.append({"url": "", "label": self.get_header_title()})
        return items

    @property
    def header_more_buttons(self) -> list[Any]:
        buttons = []
        if self.user_has_permission("change") and self.edit_url_name:
            buttons.append(
                Button(_("Edit"), url=self.url(self.edit_url_name), icon_name="edit", priority=1)
            )
        pages = [
            (self.report_url_name, _("Campaign page"), "mail", True),
            (
                self.preview_as_url_name,
                _("Preview as a contact"),
                "view",
                user_can_view_contacts(self.request.user),
            ),
            (
                self.schedule_url_name,
                _("Send or schedule"),
                "date",
                self.can_send and self.object.status == CampaignStatus.DRAFT,
            ),
        ]
        for priority, (url_name, label, icon, allowed) in enumerate(pages, start=2):
            url = self.url(url_name)
            if allowed and url and url != self.request.path:
                buttons.append(Button(label, url=url, icon_name=icon, priority=priority))
        return buttons


# Preview as a contact -----------------------------------------------------------------------


class CampaignPreviewMixin(CampaignPageMixin):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not user_can_view_contacts(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def draft(self) -> Campaign:
        """The latest revision (the draft being edited), else the campaign as saved."""
        revision = self.object.latest_revision
        if revision is None:
            return self.object
        draft = revision.as_object()
        assert isinstance(draft, Campaign)
        return draft

    def preview_url(self, term: str = "") -> str:
        url = self.url(self.preview_as_url_name)
        return f"{url}?{urlencode({'contact': term})}" if term else url


class CampaignPreviewAsView(CampaignPreviewMixin, TemplateView):
    """GET ``?contact=<id, address or search>``: the draft rendered for that contact."""

    template_name = "wagtail_oneonone/admin/campaign_preview.html"
    page_title = gettext_lazy("Preview as a contact")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        session = self.request.session
        term = self.request.GET.get("contact")
        if term is None and session.get(SESSION_KEY):
            term = str(session[SESSION_KEY])  # the contact chosen last time
        choice = find_contact(term or "")
        preview = None
        if choice.contact is not None:
            # Wagtail's live preview panel in the editor renders as this contact too.
            session[SESSION_KEY] = choice.contact.pk
            preview = render_campaign(self.draft(), choice.contact)
        revision = self.object.latest_revision
        context.update(
            campaign=self.object,
            revision=revision,
            unpublished=bool(self.object.live and self.object.has_unpublished_changes),
            choice=choice,
            contact=choice.contact,
            contact_url=reverse(CONTACT_INSPECT_URL_NAME, args=(quote(choice.contact.pk),))
            if choice.contact
            else "",
            suggestions=choice.matches or list(Contact.objects.order_by("-pk")[:MAX_CHOICES]),
            preview=preview,
            preview_url=self.preview_url(),
            send_test_url=self.url(self.send_test_url_name),
            user_email=(getattr(self.request.user, "email", "") or "").strip(),
            desktop_width=DESKTOP_WIDTH,
            mobile_width=MOBILE_WIDTH,
        )
        return context


class CampaignSendTestView(CampaignPreviewMixin, View):
    """POST: queue a test of the draft, rendered as a contact, to the user's own address."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        choice = find_contact(request.POST.get("contact", ""))
        back = redirect(self.preview_url(choice.term))
        revision = self.object.latest_revision
        if revision is None:
            messages.error(request, _("Save the campaign first: a test sends a saved draft."))
            return back

        def problem(contact: Contact) -> str | None:
            error = render_campaign(self.draft(), contact).error
            return None if error is None else str(error)

        return send_test_and_report(
            request,
            back,
            choice.contact,
            what=_("the draft"),
            problem=problem,
            send=lambda contact, to_email: send_test_of(
                REVISION_SOURCE,
                str(revision.pk),
                as_contact=contact,
                to_email=to_email,
                requested_by=request.user,
            ),
        )


# The campaign page --------------------------------------------------------------------------


class CampaignReportView(CampaignPageMixin, TemplateView):
    """Its status and progress, outcomes grouped by reason, sends over time, the schedule."""

    template_name = "wagtail_oneonone/admin/campaign_report.html"
    page_title = gettext_lazy("Campaign")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        campaign = self.object
        send = (
            CampaignSend.objects.select_related("revision", "scheduled_by", "cancelled_by")
            .filter(pk=campaign.pk)
            .first()
        )
        context.update(campaign=campaign, send=send, statuses=CampaignStatus)
        context["audience"] = list(sent_revision_of(campaign).audience.all())
        context["exclusions"] = list(sent_revision_of(campaign).exclusions.all())
        if send is None:
            context.update(
                status=CampaignStatus.DRAFT,
                status_label=CampaignStatus.DRAFT.label,
                schedule_url=self.url(self.schedule_url_name) if self.can_send else "",
            )
            return context
        progress = progress_of(send)
        counts = progress.counts
        over_time = report.sent_over_time(send.pk)
        messages_url = ""
        if self.messages_url_name and message_policy().user_has_permission(
            self.request.user, "view"
        ):
            query = urlencode({"source_type": "campaign", "source_id": str(send.pk)})
            messages_url = f"{reverse(self.messages_url_name)}?{query}"
        context.update(
            status=send.status,
            status_label=CampaignStatus(send.status).label,
            active=send.status in ACTIVE,
            progress=progress,
            total=max(progress.audience_size or 0, progress.queued, 1),
            counts=[
                ("queued", _("Queued"), counts.get(OutboxStatus.QUEUED, 0)),
                ("sending", _("Sending"), counts.get(OutboxStatus.CLAIMED, 0)),
                ("sent", _("Sent"), counts.get(OutboxStatus.SENT, 0)),
                ("skipped", _("Skipped"), counts.get(OutboxStatus.SKIPPED, 0)),
                ("failed", _("Failed"), counts.get(OutboxStatus.FAILED, 0)),
                ("unknown", _("Outcome unknown"), counts.get(OutboxStatus.UNKNOWN, 0)),
            ],
            skipped=report.grouped_skips(send.pk),
            failed=report.grouped_failures(send.pk),
            over_time=over_time,
            schedule=report.schedule_rows(send),
            messages_url=messages_url,
            progress_url=self.url(self.progress_url_name),
            cancel_url=self.url(self.cancel_url_name)
            if self.can_send and send.status in ACTIVE
            else "",
        )
        return context


class CampaignProgressView(CampaignPageMixin, View):
    """GET: the send's progress as JSON, for the campaign page's progress bar."""

    http_method_names = ["get"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        send = CampaignSend.objects.filter(pk=self.object.pk).first()
        if send is None:
            return JsonResponse({"error": _("The campaign has not been scheduled.")}, status=404)
        data = progress_of(send).as_dict()
        data["status_label"] = str(CampaignStatus(send.status).label)
        return JsonResponse(data)


# The editor's live audience size -------------------------------------------------------------


class AudienceSizeView(RegistryPolicyViewMixin, PermissionCheckedMixin, View):
    """POST ``audience`` and ``exclusions`` (segment ids): how many contacts that reaches now."""

    model = Campaign
    any_permission_required = ["add", "change"]
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        def segments(name: str) -> list[Segment]:
            ids = [value for value in request.POST.getlist(name) if value.isdigit()]
            return list(Segment.objects.filter(pk__in=ids))

        campaign = Campaign()  # unsaved: its segments are held in memory by modelcluster
        campaign.audience = segments("audience")
        campaign.exclusions = segments("exclusions")
        if not campaign.audience.all():
            return JsonResponse({"count": None, "message": _("Choose a segment to send to.")})
        try:
            count = audience_of(campaign).count()
        except SegmentRuleError as exc:
            return JsonResponse({"count": None, "message": str(exc.message)})
        except DatabaseError:
            return JsonResponse(
                {"count": None, "message": _("The audience could not be counted; try again.")}
            )
        return JsonResponse({"count": count, "message": ""})
