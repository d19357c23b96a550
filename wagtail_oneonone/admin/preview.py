"""Preview an email template as any contact, and send a test of it to yourself.

The preview renders exactly as the worker would (``preview_context`` stands in for the
message's own links); the HTML is shown in sandboxed iframes, so nothing in it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView, View
from wagtail.admin import messages
from wagtail.admin.views.generic.base import BaseObjectMixin, WagtailAdminTemplateMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin

from ..exceptions import ContactValidationError, TemplateRenderError
from ..models import Contact, EmailTemplate, MessageKind, OutboxMessage
from ..rendering import RenderedEmail, preview_context, render_email
from ..sending.dispatch import ensure_unsubscribe_link
from ..sending.sources import content_of
from ..sending.test_sends import send_test
from ..validation import normalize_email
from .compat import RegistryPolicyViewMixin
from .permissions import message_policy, user_can_view_contacts
from .templates_admin import PREVIEW_ACTIONS

#: How many contacts the chooser suggests or lists as matches.
MAX_CHOICES = 20
MESSAGE_INSPECT_URL_NAME = "oneonone_message:inspect"
CONTACT_INSPECT_URL_NAME = "oneonone_contact:inspect"
#: Widths of the two previews: a common email width, and a small phone's.
DESKTOP_WIDTH = 640
MOBILE_WIDTH = 375


@dataclass
class ContactChoice:
    """What the chooser's ``contact`` parameter found: one contact, or candidates."""

    term: str = ""
    contact: Contact | None = None
    matches: list[Contact] = field(default_factory=list)
    truncated: bool = False


def find_contact(term: str) -> ContactChoice:
    """Resolve an id, an address or a search term (email or names) to one contact."""
    term = term.strip()
    choice = ContactChoice(term=term)
    if not term:
        return choice
    if term.isdigit():
        choice.contact = Contact.objects.filter(pk=int(term)).first()
    elif "@" in term:
        with suppress(ContactValidationError):  # not an address: search for it instead
            choice.contact = Contact.objects.filter(email=normalize_email(term)).first()
    if choice.contact is None:
        matches = list(Contact.objects.search(term).order_by("email")[: MAX_CHOICES + 1])
        if len(matches) == 1:
            choice.contact = matches[0]
        else:
            choice.matches = matches[:MAX_CHOICES]
            choice.truncated = len(matches) > MAX_CHOICES
    return choice


def render_preview(template: EmailTemplate, contact: Contact) -> RenderedEmail:
    """The email ``contact`` would get from ``template``; raises TemplateRenderError."""
    content = content_of(template)
    context = preview_context(contact)
    rendered = render_email(content.template, context)
    if content.kind == MessageKind.MARKETING:
        # The worker adds an unsubscribe link when the template has none; so does the preview.
        rendered = ensure_unsubscribe_link(rendered, context["unsubscribe_url"])
    return rendered


class TemplatePreviewMixin(
    RegistryPolicyViewMixin, PermissionCheckedMixin, BaseObjectMixin, WagtailAdminTemplateMixin
):
    """An email template's page that also shows contact data: both permissions are needed."""

    model = EmailTemplate
    any_permission_required = list(PREVIEW_ACTIONS)
    header_icon = "view"
    index_url_name: str | None = None
    edit_url_name: str | None = None
    preview_url_name: str | None = None
    send_test_url_name: str | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not user_can_view_contacts(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def preview_url(self, term: str = "") -> str:
        assert self.preview_url_name
        url = reverse(self.preview_url_name, args=(quote(self.object.pk),))
        return f"{url}?{urlencode({'contact': term})}" if term else url


class TemplatePreviewView(TemplatePreviewMixin, TemplateView):
    """GET ``?contact=<id, address or search>``: the template rendered for that contact."""

    template_name = "wagtail_oneonone/admin/email_template_preview.html"
    page_title = gettext_lazy("Preview")

    def get_page_subtitle(self) -> str:
        return str(self.object)

    def get_breadcrumbs_items(self) -> list[dict[str, Any]]:
        items = [*self.breadcrumbs_items]
        if self.index_url_name:
            items.append({"url": reverse(self.index_url_name), "label": _("Email templates")})
        edit_url = ""
        if self.edit_url_name and self.user_has_permission("change"):
            edit_url = reverse(self.edit_url_name, args=(quote(self.object.pk),))
        items.append({"url": edit_url, "label": str(self.object)})
        items.append({"url": "", "label": self.get_page_title()})
        return items

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        choice = find_contact(self.request.GET.get("contact", ""))
        rendered: RenderedEmail | None = None
        error: TemplateRenderError | None = None
        if choice.contact is not None:
            try:
                rendered = render_preview(self.object, choice.contact)
            except TemplateRenderError as exc:
                error = exc
        suggestions = choice.matches or list(Contact.objects.order_by("-pk")[:MAX_CHOICES])
        context.update(
            template=self.object,
            choice=choice,
            contact=choice.contact,
            contact_url=reverse(CONTACT_INSPECT_URL_NAME, args=(quote(choice.contact.pk),))
            if choice.contact
            else "",
            suggestions=suggestions,
            rendered=rendered,
            render_error=error,
            preview_url=self.preview_url(),
            send_test_url=reverse(self.send_test_url_name, args=(quote(self.object.pk),))
            if self.send_test_url_name
            else "",
            user_email=getattr(self.request.user, "email", "") or "",
            desktop_width=DESKTOP_WIDTH,
            mobile_width=MOBILE_WIDTH,
        )
        return context


class TemplateSendTestView(TemplatePreviewMixin, View):
    """POST: queue a test of the template, rendered as a contact, to the user's own address."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        choice = find_contact(request.POST.get("contact", ""))

        def problem(contact: Contact) -> str | None:
            try:
                render_preview(self.object, contact)
            except TemplateRenderError as exc:
                return str(exc)
            return None

        return send_test_and_report(
            request,
            redirect(self.preview_url(choice.term)),
            choice.contact,
            what=_("the template"),
            problem=problem,
            send=lambda contact, to_email: send_test(
                self.object, as_contact=contact, to_email=to_email, requested_by=request.user
            ),
        )


def send_test_and_report(
    request: HttpRequest,
    back: HttpResponse,
    contact: Contact | None,
    *,
    what: str,
    problem: Callable[[Contact], str | None],
    send: Callable[[Contact, str], OutboxMessage],
) -> HttpResponse:
    """The end of every "send a test to me" view: a contact chosen, an address to send to,
    ``what`` renders for them (``problem`` says why not), then ``send`` queues it; the
    user is told what happened and sent ``back``."""
    if contact is None:
        messages.error(request, _("Choose the contact to render the test as."))
        return back
    to_email = (getattr(request.user, "email", "") or "").strip()
    if not to_email:
        messages.error(
            request,
            _(
                "Your account has no email address, so there is nowhere to send the test. "
                "Add one in your account settings, then try again."
            ),
        )
        return back
    error = problem(contact)
    if error is not None:
        messages.error(
            request,
            _("The test was not sent: %(what)s does not render (%(error)s).")
            % {"what": what, "error": error},
        )
        return back
    try:
        message = send(contact, to_email)
    except ContactValidationError as exc:
        messages.error(
            request,
            _("Your account's email address (%(email)s) cannot be used: %(error)s.")
            % {"email": to_email, "error": exc.message},
        )
        return back
    buttons = []
    if message_policy().user_has_permission(request.user, "view"):
        url = reverse(MESSAGE_INSPECT_URL_NAME, args=(quote(message.pk),))
        buttons.append(messages.button(url, _("View message")))
    messages.success(
        request,
        _("A test of %(what)s, rendered as %(contact)s, is on its way to %(email)s.")
        % {"what": what, "contact": contact.email, "email": to_email},
        buttons=buttons,
    )
    return back
