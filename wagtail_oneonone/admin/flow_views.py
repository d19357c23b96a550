"""A flow's own admin pages: the flow page (what happened to whom, step by step), pause and
resume, an email step's preview as a contact (and a test to yourself), and the built-in
flows, installed in one click.

Views are thin: pausing and resuming are ``flows.services``, installing is
``flows.builtin``, previews and tests ``flows.preview``; the page's queries are in
``flow_report``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView, View
from wagtail.admin import messages
from wagtail.admin.views import generic
from wagtail.admin.views.generic.base import BaseObjectMixin, WagtailAdminTemplateMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.admin.widgets.button import Button
from wagtail.log_actions import log

from ..campaigns.preview import SESSION_KEY, preview_contact, sample_contact
from ..events.types import label_for
from ..flows.builtin import BUILTIN_FLOWS, install_builtin, installed_keys
from ..flows.preview import NotAnEmailStep, email_step, render_flow_step, send_step_test
from ..flows.services import pause_flow, resume_flow
from ..models import Contact, Enrollment, EnrollmentStatus, Flow, FlowStatus
from . import flow_report as report
from .compat import RegistryPolicyViewMixin
from .permissions import message_policy, user_can_view_contacts
from .preview import (
    CONTACT_INSPECT_URL_NAME,
    DESKTOP_WIDTH,
    MAX_CHOICES,
    MOBILE_WIDTH,
    ContactChoice,
    find_contact,
    send_test_and_report,
)

PAUSE_LOG_ACTION = "wagtail_oneonone.pause_flow"
RESUME_LOG_ACTION = "wagtail_oneonone.resume_flow"
INSTALL_LOG_ACTION = "wagtail_oneonone.install_flow"


# The flow page ----------------------------------------------------------------------------


class FlowReportView(RegistryPolicyViewMixin, generic.InspectView):
    """Status with pause/resume; trigger, goal and re-entry in words; each step with the
    contacts at it and what it sent; totals, exits, entries per day; the latest entries."""

    template_name = "wagtail_oneonone/admin/flow_report.html"
    page_title = gettext_lazy("Flow")
    history_url_name: str | None = None
    pause_url_name: str | None = None
    resume_url_name: str | None = None
    messages_url_name: str | None = None
    step_preview_url_name: str | None = None

    def get_object(self, queryset: Any = None) -> Flow:
        return get_object_or_404(
            Flow.objects.select_related(
                "trigger_segment", "entry_segment", "goal_left_segment", "layout"
            ),
            pk=self.pk,
        )

    def get_fields(self) -> list[str]:
        return []  # the template lays the page out itself

    def _url(self, name: str | None) -> str:
        return reverse(name, args=(quote(self.object.pk),)) if name else ""

    @cached_property
    def header_more_buttons(self) -> list[Any]:
        buttons = list(super().header_more_buttons)
        if self.history_url_name:
            buttons.append(
                Button(
                    _("History"),
                    url=self._url(self.history_url_name),
                    icon_name="history",
                    priority=30,
                )
            )
        return buttons

    def latest_rows(self, flow: Flow, labels: dict[str, str]) -> list[dict[str, Any]]:
        can_see_contacts = user_can_view_contacts(self.request.user)
        rows = []
        for enrollment in report.latest_enrollments(flow):
            contact = enrollment.contact
            if enrollment.status != EnrollmentStatus.ACTIVE:
                at = labels.get(enrollment.step_id, "") if enrollment.step_id else ""
            elif not enrollment.step_id:
                at = _("Not started yet")
            else:
                at = labels.get(enrollment.step_id) or _("A step removed from the flow")
            rows.append(
                {
                    "enrollment": enrollment,
                    "contact": contact.email
                    if can_see_contacts
                    else _("Contact #%(id)s") % {"id": contact.pk},
                    "contact_url": reverse(CONTACT_INSPECT_URL_NAME, args=(quote(contact.pk),))
                    if can_see_contacts
                    else "",
                    "status": EnrollmentStatus(enrollment.status).label,
                    "step": at,
                    "waiting_until": enrollment.next_run_at
                    if enrollment.status == EnrollmentStatus.ACTIVE and enrollment.waiting
                    else None,
                }
            )
        return rows

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        flow: Flow = self.object
        can_change = self.user_has_permission("change")
        steps = report.step_counts(flow)
        labels = {row.step_id: row.label for row in steps.rows if row.step_id}
        over_time = report.enrolled_over_time(flow)
        messages_url = ""
        if self.messages_url_name and message_policy().user_has_permission(
            self.request.user, "view"
        ):
            messages_url = reverse(self.messages_url_name)
        context.update(
            flow=flow,
            statuses=FlowStatus,
            pause_url=self._url(self.pause_url_name)
            if can_change and flow.status == FlowStatus.ACTIVE
            else "",
            resume_url=self._url(self.resume_url_name)
            if can_change and flow.status == FlowStatus.PAUSED
            else "",
            trigger=report.trigger_in_words(flow),
            entry=report.entry_in_words(flow),
            reentry=report.reentry_in_words(flow),
            goal=report.goal_in_words(flow),
            steps=steps,
            # Each step's row with the link to its preview (email steps only).
            step_rows=[
                (
                    row,
                    reverse(self.step_preview_url_name, args=(quote(flow.pk), row.step_id))
                    if self.step_preview_url_name and row.kind == "send_email" and row.step_id
                    else "",
                )
                for row in steps.rows
            ],
            totals=report.flow_totals(flow),
            exits=report.exit_reasons(flow),
            over_time=over_time,
            latest=self.latest_rows(flow, labels),
            messages_url=messages_url,
        )
        return context


# Pause and resume -------------------------------------------------------------------------


class FlowStatusChangeView(RegistryPolicyViewMixin, PermissionCheckedMixin, BaseObjectMixin, View):
    """POST: pause an active flow, or resume a paused one; back to the flow page."""

    model = Flow
    permission_required = "change"
    http_method_names = ["post"]
    inspect_url_name: str | None = None
    object: Flow
    from_status: str = ""
    log_action: str = ""

    def change(self, flow: Flow) -> None:
        raise NotImplementedError

    def done_message(self, flow: Flow) -> str:
        raise NotImplementedError

    def refused_message(self, flow: Flow) -> str:
        raise NotImplementedError

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        flow = self.object
        back = (
            redirect(self.inspect_url_name, quote(flow.pk))
            if self.inspect_url_name
            else redirect("wagtailadmin_home")
        )
        if flow.status != self.from_status:
            messages.warning(request, self.refused_message(flow))
            return back
        previous = flow.status
        self.change(flow)
        flow.refresh_from_db(fields=["status", "updated_at"])
        if flow.status == previous:  # changed meanwhile by someone else
            messages.warning(request, self.refused_message(flow))
            return back
        log(
            instance=flow,
            action=self.log_action,
            user=request.user,
            data={"from": previous, "to": flow.status},
        )
        messages.success(request, self.done_message(flow))
        return back


class FlowPauseView(FlowStatusChangeView):
    from_status = FlowStatus.ACTIVE
    log_action = PAUSE_LOG_ACTION

    def change(self, flow: Flow) -> None:
        pause_flow(flow)

    def done_message(self, flow: Flow) -> str:
        waiting = Enrollment.objects.filter(flow=flow, status=EnrollmentStatus.ACTIVE).count()
        return _(
            "“%(name)s” is paused: no one enters it and the %(n)s contacts in it stay where "
            "they are until you resume it."
        ) % {"name": flow.name, "n": waiting}

    def refused_message(self, flow: Flow) -> str:
        return _("“%(name)s” was not paused: it is %(status)s, not active.") % {
            "name": flow.name,
            "status": flow.get_status_display().lower(),
        }


class FlowResumeView(FlowStatusChangeView):
    from_status = FlowStatus.PAUSED
    log_action = RESUME_LOG_ACTION

    def change(self, flow: Flow) -> None:
        resume_flow(flow)

    def done_message(self, flow: Flow) -> str:
        return _(
            "“%(name)s” is active again: contacts in it go on from where they were, and new "
            "triggers enroll contacts."
        ) % {"name": flow.name}

    def refused_message(self, flow: Flow) -> str:
        return _("“%(name)s” was not resumed: it is %(status)s, not paused.") % {
            "name": flow.name,
            "status": flow.get_status_display().lower(),
        }


# An email step's preview as a contact, and a test to yourself -------------------------------


class FlowStepPreviewMixin(
    RegistryPolicyViewMixin, PermissionCheckedMixin, BaseObjectMixin, WagtailAdminTemplateMixin
):
    """A page about one email step of a flow; whoever may open the flow page may open it.

    A user without a contact permission sees the step rendered for an invented contact
    (``campaigns.preview.sample_contact``), never a real one, and cannot send a test.
    """

    model = Flow
    any_permission_required: list[str] | None = ["add", "change", "delete", "view"]
    header_icon = "view"
    index_url_name: str | None = None
    inspect_url_name: str | None = None
    step_preview_url_name: str | None = None
    step_send_test_url_name: str | None = None
    object: Flow

    @cached_property
    def step_id(self) -> str:
        return str(self.kwargs["step_id"])

    @cached_property
    def step(self) -> Any:
        """The email step's block; a step id that is not an email step of the flow is a 404."""
        try:
            return email_step(self.object, self.step_id)
        except NotAnEmailStep as exc:
            raise Http404(str(exc)) from exc

    @cached_property
    def may_see_contacts(self) -> bool:
        return user_can_view_contacts(self.request.user)

    @cached_property
    def step_label(self) -> str:
        return report.step_labels(self.object).get(self.step_id, _("An email step"))

    def step_url(self, url_name: str | None) -> str:
        return reverse(url_name, args=(quote(self.object.pk), self.step_id)) if url_name else ""

    def preview_url(self, term: str = "") -> str:
        url = self.step_url(self.step_preview_url_name)
        return f"{url}?{urlencode({'contact': term})}" if term else url

    def can_send_test(self) -> bool:
        return bool(self.may_see_contacts and self.user_has_permission("change"))


class FlowStepPreviewView(FlowStepPreviewMixin, TemplateView):
    """GET ``?contact=<id, address or search>``: the email step rendered for that contact.

    Without ``contact``, the contact last chosen on a preview page (this one or a
    campaign's), else the most recently updated one.
    """

    template_name = "wagtail_oneonone/admin/flow_step_preview.html"
    page_title = gettext_lazy("Preview")

    def get_page_subtitle(self) -> str:
        return str(self.step_label)

    def get_breadcrumbs_items(self) -> list[dict[str, Any]]:
        items = [*self.breadcrumbs_items]
        if self.index_url_name:
            items.append({"url": reverse(self.index_url_name), "label": _("Flows")})
        items.append(
            {"url": self.flow_url(), "label": str(self.object)},
        )
        items.append({"url": "", "label": _("Preview: %(step)s") % {"step": self.step_label}})
        return items

    def flow_url(self) -> str:
        if not self.inspect_url_name:
            return ""
        return reverse(self.inspect_url_name, args=(quote(self.object.pk),))

    def choose_contact(self) -> tuple[ContactChoice, Contact | None]:
        if not self.may_see_contacts:
            # ``?contact=`` is ignored: the page must not show a real contact's data.
            return ContactChoice(), sample_contact()
        term = self.request.GET.get("contact")
        if term is None:
            contact = preview_contact(self.request, may_see_contacts=True)
            return ContactChoice(term=contact.email, contact=contact), contact
        choice = find_contact(term)
        return choice, choice.contact

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        flow, block = self.object, self.step
        choice, contact = self.choose_contact()
        preview = None
        if contact is not None:
            if contact.pk is not None:
                # Remembered for the next preview page, as the campaign preview does.
                self.request.session[SESSION_KEY] = contact.pk
            preview = render_flow_step(flow, self.step_id, contact)
        sample = contact is not None and contact.pk is None
        context.update(
            flow=flow,
            step=block,
            step_label=self.step_label,
            flow_url=self.flow_url(),
            may_see_contacts=self.may_see_contacts,
            choice=choice,
            contact=contact,
            sample=sample,
            contact_url=reverse(CONTACT_INSPECT_URL_NAME, args=(quote(contact.pk),))
            if contact is not None and not sample
            else "",
            suggestions=(choice.matches or list(Contact.objects.order_by("-pk")[:MAX_CHOICES]))
            if self.may_see_contacts
            else [],
            preview=preview,
            trigger_label=report.trigger_in_words(flow),
            trigger_event_label=label_for(preview.trigger.type)
            if preview is not None and preview.trigger is not None
            else "",
            preview_url=self.preview_url(),
            send_test_url=self.step_url(self.step_send_test_url_name)
            if self.can_send_test() and not sample
            else "",
            can_change=self.user_has_permission("change"),
            user_email=(getattr(self.request.user, "email", "") or "").strip(),
            desktop_width=DESKTOP_WIDTH,
            mobile_width=MOBILE_WIDTH,
        )
        return context


class FlowStepSendTestView(FlowStepPreviewMixin, View):
    """POST ``contact``: queue a test of the email step, rendered as that contact, to the
    user's own address. Needs ``change_flow`` and a contact permission."""

    any_permission_required = None
    permission_required = "change"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.step  # noqa: B018  (a step that is not an email step is a 404)
        if not self.may_see_contacts:
            raise PermissionDenied
        choice = find_contact(request.POST.get("contact", ""))

        def problem(contact: Contact) -> str | None:
            error = render_flow_step(self.object, self.step_id, contact).error
            return None if error is None else str(error)

        return send_test_and_report(
            request,
            redirect(self.preview_url(choice.term)),
            choice.contact,
            what=self.step_label,
            problem=problem,
            send=lambda contact, to_email: send_step_test(
                self.object,
                self.step_id,
                as_contact=contact,
                to_email=to_email,
                requested_by=request.user,
            ),
        )


# Built-in flows ---------------------------------------------------------------------------


class BuiltinFlowsMixin(RegistryPolicyViewMixin, PermissionCheckedMixin):
    model = Flow
    permission_required = "add"
    index_url_name: str | None = None
    edit_url_name: str | None = None
    builtins_url_name: str | None = None
    install_url_name: str | None = None


class BuiltinFlowsView(BuiltinFlowsMixin, WagtailAdminTemplateMixin, TemplateView):
    """GET: the built-in flows, each installed or with an "Install" button."""

    template_name = "wagtail_oneonone/admin/flow_builtins.html"
    page_title = gettext_lazy("Built-in flows")
    header_icon = "resubmit"

    def get_breadcrumbs_items(self) -> list[dict[str, Any]]:
        items = [*self.breadcrumbs_items]
        if self.index_url_name:
            items.append({"url": reverse(self.index_url_name), "label": _("Flows")})
        items.append({"url": "", "label": self.get_page_title()})
        return items

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        installed = installed_keys()
        flows: dict[str, list[Flow]] = {}
        for flow in Flow.objects.filter(builtin__in=installed).order_by("name"):
            flows.setdefault(flow.builtin, []).append(flow)
        context.update(
            rows=[
                {
                    "builtin": builtin,
                    "installed": builtin.key in installed,
                    "flows": [
                        (flow, reverse(self.edit_url_name, args=(quote(flow.pk),)))
                        for flow in flows.get(builtin.key, [])
                    ]
                    if self.edit_url_name
                    else [],
                }
                for builtin in BUILTIN_FLOWS
            ],
            install_url=reverse(self.install_url_name) if self.install_url_name else "",
        )
        return context


class InstallBuiltinView(BuiltinFlowsMixin, View):
    """POST ``key``: install that built-in flow (a draft) and open it in the editor; installed
    again, it is a second copy under a numbered name."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = request.POST.get("key", "")
        back = (
            redirect(self.builtins_url_name)
            if self.builtins_url_name
            else redirect("wagtailadmin_home")
        )
        try:
            with transaction.atomic():  # a savepoint: the request may go on after a refusal
                flow = install_builtin(key, staff_email=getattr(request.user, "email", ""))
        except ValueError as exc:
            messages.error(
                request, _("That flow could not be installed: %(error)s") % {"error": exc}
            )
            return back
        except IntegrityError:
            messages.error(
                request,
                _(
                    "That flow could not be installed: a flow with its name already exists. "
                    "Rename that one first."
                ),
            )
            return back
        log(instance=flow, action=INSTALL_LOG_ACTION, user=request.user, data={"key": key})
        messages.success(
            request,
            _(
                "“%(name)s” is installed as a draft. Check its emails and settings, then set "
                "it to active."
            )
            % {"name": flow.name},
        )
        if self.edit_url_name:
            return redirect(self.edit_url_name, quote(flow.pk))
        return back
