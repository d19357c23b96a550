"""Admin views for contacts and the suppression list: thin wrappers around the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin.utils import quote
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Max, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import FormView, View
from wagtail.admin import messages
from wagtail.admin.ui.tables import (
    ButtonsColumnMixin,
    Column,
    DateColumn,
    StatusFlagColumn,
    StatusTagColumn,
    TitleColumn,
)
from wagtail.admin.views import generic
from wagtail.admin.views.generic.base import BaseObjectMixin, WagtailAdminTemplateMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin
from wagtail.admin.widgets.button import Button
from wagtail.log_actions import log
from wagtail.models import ModelLogEntry

from ..contacts.services import erase_contact, export_contact, set_consent
from ..exceptions import ContactValidationError
from ..models import ConsentStatus, Contact, Event, Flow, Suppression
from ..models.contacts import ContactQuerySet
from ..validation import email_hash, normalize_email
from . import forms
from .compat import RegistryPolicyViewMixin, more_button, policy_registry
from .filters import suppressed_exists
from .log_actions import EXPORT_LOG_ACTION
from .permissions import CONTACT_ACTIONS, message_policy
from .timeline import contact_zone, describe_event, flow_lines_for_page, merged_timeline

ADMIN_CONSENT_WHERE = "Wagtail admin"
TIMELINE_PER_PAGE = 25
RECENT_MESSAGES = 10


class LinkedTitleColumn(ButtonsColumnMixin, TitleColumn):
    """A title column with a row's action buttons, linking where the view says."""

    def __init__(self, *args: Any, buttons_for: Callable[[Any], list[Any]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._buttons_for = buttons_for

    def get_buttons(self, instance: Any, parent_context: Any) -> list[Any]:
        return self._buttons_for(instance)


class TieBreakOrderingMixin:
    """Adds the primary key to every ordering so pagination never repeats or skips rows."""

    def order_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = super().order_queryset(queryset)  # type: ignore[misc]
        order_by = list(queryset.query.order_by)
        if order_by and not {"pk", "-pk", "id", "-id"} & set(map(str, order_by)):
            queryset = queryset.order_by(*order_by, "-pk")
        return queryset


# Contacts --------------------------------------------------------------------------------


class ContactIndexView(RegistryPolicyViewMixin, TieBreakOrderingMixin, generic.IndexView):
    any_permission_required = list(CONTACT_ACTIONS)
    export_url_name: str | None = None
    erase_url_name: str | None = None

    def get_base_queryset(self) -> QuerySet[Contact]:
        last_event = (
            Event.objects.filter(contact=OuterRef("pk"))
            .order_by()
            .values("contact")
            .annotate(last=Max("occurred_at"))
            .values("last")
        )
        # Correlated subqueries run only for the contacts on the page (unless sorted by them).
        return (
            super()
            .get_base_queryset()
            .annotate(last_activity=Subquery(last_event), suppressed=suppressed_exists())
        )

    def search_queryset(self, queryset: ContactQuerySet) -> ContactQuerySet:
        # Every word must match the email, first or last name (ContactQuerySet.search).
        if not self.is_searching:
            return queryset
        return queryset.search(self.search_query)

    @cached_property
    def columns(self) -> list[Any]:
        return [
            LinkedTitleColumn(
                "email",
                label=gettext_lazy("Email"),
                sort_key="email",
                get_url=self.get_inspect_url,
                buttons_for=self.get_list_buttons,
            ),
            Column("full_name", label=gettext_lazy("Name"), sort_key="last_name"),
            StatusTagColumn(
                "get_consent_status_display",
                label=gettext_lazy("Consent"),
                sort_key="consent_status",
                primary=lambda contact: contact.consent_status == ConsentStatus.SUBSCRIBED,
            ),
            StatusFlagColumn(
                "suppressed", label=gettext_lazy("Suppressed"), true_label=_("Suppressed")
            ),
            Column("time_zone", label=gettext_lazy("Time zone"), sort_key="time_zone"),
            DateColumn("created_at", label=gettext_lazy("Created"), sort_key="created_at"),
            DateColumn(
                "last_activity", label=gettext_lazy("Last activity"), sort_key="last_activity"
            ),
        ]

    def get_inspect_url(self, instance: Contact) -> str | None:
        if self.inspect_url_name and self.user_has_any_permission(CONTACT_ACTIONS):
            return reverse(self.inspect_url_name, args=(quote(instance.pk),))
        return None

    def get_list_more_buttons(self, instance: Contact) -> list[Any]:
        buttons = super().get_list_more_buttons(instance)
        if self.export_url_name and self.user_has_permission("export"):
            url = reverse(self.export_url_name, args=(quote(instance.pk),))
            buttons.append(
                more_button(_("Export data"), url=url, icon_name="download", priority=40)
            )
        if self.erase_url_name and self.user_has_permission("erase"):
            url = reverse(self.erase_url_name, args=(quote(instance.pk),))
            buttons.append(more_button(_("Erase"), url=url, icon_name="bin", priority=50))
        return buttons


class ContactFormViewMixin:
    inspect_url_name: str | None = None

    def get_success_url(self) -> str:
        assert self.inspect_url_name
        return reverse(self.inspect_url_name, args=(quote(self.object.pk),))  # type: ignore[attr-defined]


class ContactCreateView(RegistryPolicyViewMixin, ContactFormViewMixin, generic.CreateView):
    pass


class ContactEditView(RegistryPolicyViewMixin, ContactFormViewMixin, generic.EditView):
    @cached_property
    def header_more_buttons(self) -> list[Any]:
        buttons = []
        if inspect_url := self.get_inspect_url():
            buttons.append(
                Button(_("Contact page"), url=inspect_url, icon_name="user", priority=10)
            )
        if history_url := self.get_history_url():
            buttons.append(Button(_("History"), url=history_url, icon_name="history", priority=20))
        return buttons


class ContactInspectView(RegistryPolicyViewMixin, generic.InspectView):
    """The contact page: profile, consent and its history, and the event timeline."""

    any_permission_required = list(CONTACT_ACTIONS)
    template_name = "wagtail_oneonone/admin/contact_inspect.html"
    page_title = gettext_lazy("Contact")
    history_url_name: str | None = None
    export_url_name: str | None = None
    erase_url_name: str | None = None
    consent_url_name: str | None = None

    def get_fields(self) -> list[str]:
        return []  # the template lays the profile out itself

    def _url(self, name: str | None, action: str | None = None) -> str | None:
        if name and (action is None or self.user_has_permission(action)):
            return reverse(name, args=(quote(self.object.pk),))
        return None

    @cached_property
    def header_more_buttons(self) -> list[Any]:
        buttons = []
        if edit_url := self.get_edit_url():
            buttons.append(Button(_("Edit"), url=edit_url, icon_name="edit", priority=10))
        if history_url := self._url(self.history_url_name):
            buttons.append(Button(_("History"), url=history_url, icon_name="history", priority=20))
        if export_url := self._url(self.export_url_name, "export"):
            buttons.append(
                Button(_("Export data"), url=export_url, icon_name="download", priority=30)
            )
        if erase_url := self._url(self.erase_url_name, "erase"):
            buttons.append(Button(_("Erase"), url=erase_url, icon_name="bin", priority=40))
        return buttons

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        contact: Contact = self.object
        zone = contact_zone(contact.time_zone)
        paginator = Paginator(Event.objects.timeline(contact), TIMELINE_PER_PAGE)
        events_page = paginator.get_page(self.request.GET.get("events"))
        can_change = self.user_has_permission("change")
        can_see_messages = message_policy().user_has_permission(self.request.user, "view")
        events = [describe_event(event, zone) for event in events_page.object_list]
        flow_lines = flow_lines_for_page(contact.pk, events_page, events, zone)
        context.update(
            contact=contact,
            attributes=sorted((contact.attributes or {}).items()),
            suppression=Suppression.objects.filter(email_hash=contact.email_hash).first(),
            consent_changes=contact.consent_changes.select_related("actor"),
            consent_form=forms.ConsentForm() if can_change else None,
            consent_url=self._url(self.consent_url_name, "change"),
            export_url=self._url(self.export_url_name, "export"),
            erase_url=self._url(self.erase_url_name, "erase"),
            edit_url=self.get_edit_url(),
            events_page=events_page,
            timeline=merged_timeline(events, flow_lines),
            can_view_flows=policy_registry.get_by_type(Flow).user_has_any_permission(
                self.request.user, ["add", "change", "delete", "view"]
            ),
            viewer_time_zone=timezone.get_current_timezone_name(),
            contact_time_zone=contact.time_zone if zone else "",
            show_messages=can_see_messages,
            recent_messages=list(
                contact.messages.order_by("-id").defer("context")[:RECENT_MESSAGES]
            )
            if can_see_messages
            else [],
            messages_url=f"{reverse('oneonone_message:index')}?{urlencode({'q': contact.email})}"
            if can_see_messages
            else "",
        )
        return context


class ContactObjectView(RegistryPolicyViewMixin, PermissionCheckedMixin, BaseObjectMixin, View):
    model = Contact
    inspect_url_name: str | None = None
    index_url_name: str | None = None

    def inspect_url(self) -> str:
        assert self.inspect_url_name
        return reverse(self.inspect_url_name, args=(quote(self.object.pk),))


class ContactConsentView(ContactObjectView):
    """Changes a contact's consent from the contact page; set_consent keeps the audit row."""

    permission_required = "change"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = forms.ConsentForm(request.POST)
        if not form.is_valid():
            errors = " ".join(
                str(message) for messages_ in form.errors.values() for message in messages_
            )
            messages.error(request, _("Consent was not changed. %(errors)s") % {"errors": errors})
            return redirect(self.inspect_url())
        change = set_consent(
            self.object,
            form.cleaned_data["status"],
            source=form.cleaned_data["source"],
            where=ADMIN_CONSENT_WHERE,
            actor=request.user,
        )
        if change is None:
            messages.warning(request, _("The consent status was already that; nothing changed."))
        else:
            messages.success(
                request,
                _("Consent changed to “%(status)s”.") % {"status": change.get_status_display()},
            )
        return redirect(self.inspect_url())


class ContactExportView(ContactObjectView):
    """Everything held about one contact, as a JSON download."""

    permission_required = "export"
    http_method_names = ["get"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        data = export_contact(self.object)
        log(instance=self.object, action=EXPORT_LOG_ACTION, user=request.user)
        response = JsonResponse(
            data, encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2, "ensure_ascii": False}
        )
        filename = f"contact-{self.object.pk}-{timezone.now():%Y%m%d}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


def forget_admin_history(contact: Contact) -> int:
    """Delete the admin's log entries for a contact: their labels hold the email address."""
    content_type = ContentType.objects.get_for_model(Contact)
    deleted, _details = ModelLogEntry.objects.filter(
        content_type=content_type, object_id=str(contact.pk)
    ).delete()
    return deleted


class ContactEraseView(
    RegistryPolicyViewMixin,
    PermissionCheckedMixin,
    BaseObjectMixin,
    WagtailAdminTemplateMixin,
    FormView,
):
    """Erasure: a confirmation page that needs the email typed in, then erase_contact()."""

    model = Contact
    permission_required = "erase"
    template_name = "wagtail_oneonone/admin/contact_erase.html"
    page_title = gettext_lazy("Erase contact")
    header_icon = "bin"
    index_url_name: str | None = None
    inspect_url_name: str | None = None
    erase_url_name: str | None = None

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "contact": self.object}

    def get_form_class(self) -> type[forms.EraseForm]:
        return forms.EraseForm

    def get_page_subtitle(self) -> str:
        return self.object.email

    def get_breadcrumbs_items(self) -> list[dict[str, Any]]:
        items = [*self.breadcrumbs_items]
        if self.index_url_name:
            items.append({"url": reverse(self.index_url_name), "label": _("Contacts")})
        if self.inspect_url_name:
            url = reverse(self.inspect_url_name, args=(quote(self.object.pk),))
            items.append({"url": url, "label": self.object.email})
        items.append({"url": "", "label": self.get_page_title()})
        return items

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            contact=self.object,
            event_count=self.object.events.count(),
            consent_change_count=self.object.consent_changes.count(),
            is_suppressed=self.object.is_suppressed(),
            action_url=reverse(self.erase_url_name, args=(quote(self.object.pk),))
            if self.erase_url_name
            else "",
            cancel_url=reverse(self.inspect_url_name, args=(quote(self.object.pk),))
            if self.inspect_url_name
            else "",
        )
        return context

    def form_valid(self, form: forms.EraseForm) -> HttpResponse:
        with transaction.atomic():
            forget_admin_history(self.object)
            record = erase_contact(
                self.object, actor=self.request.user, reason=form.cleaned_data["reason"]
            )
        messages.success(
            self.request,
            _("The contact and %(count)d events were erased.") % {"count": record.events_deleted},
        )
        return redirect(self.index_url_name or "wagtailadmin_home")


# Suppressions ----------------------------------------------------------------------------


class HashColumn(Column):
    def get_value(self, instance: Any) -> str:
        return f"{super().get_value(instance)[:16]}…"


class SuppressionIndexView(RegistryPolicyViewMixin, generic.IndexView):
    """The suppression list, read-only; search takes an email address and matches its hash."""

    model = Suppression
    page_title = gettext_lazy("Suppressions")
    any_permission_required = ["view"]
    default_ordering = "-created_at"
    search_fields = ["email_hash"]  # enables the search box; see search_queryset
    search_backend_name = ""

    @cached_property
    def columns(self) -> list[Any]:
        return [
            HashColumn("email_hash", label=gettext_lazy("Address (hashed)")),
            StatusTagColumn("get_reason_display", label=gettext_lazy("Reason"), sort_key="reason"),
            Column("detail", label=gettext_lazy("Detail")),
            DateColumn("created_at", label=gettext_lazy("Since"), sort_key="created_at"),
        ]

    def search_queryset(self, queryset: QuerySet[Suppression]) -> QuerySet[Suppression]:
        if not self.is_searching:
            return queryset
        try:
            digest = email_hash(normalize_email(self.search_query))
        except ContactValidationError:
            # Not an address: treat it as the start of a hash.
            return queryset.filter(email_hash__startswith=self.search_query.strip().lower())
        return queryset.filter(email_hash=digest)
