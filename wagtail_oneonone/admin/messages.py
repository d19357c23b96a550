"""Sent messages: the outbox listing and a message's page, read-only for everyone."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.contrib.admin.utils import quote
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.ui.tables import Column, DateColumn, StatusTagColumn, TitleColumn
from wagtail.admin.views import generic

from ..models import EmailTemplate, MessageKind, OutboxMessage, OutboxStatus, SentContent
from ..sending import sources
from ..sending.sources import TEST_SOURCE
from .compat import RegistryPolicyViewMixin, more_button, policy_registry
from .permissions import user_can_view_contacts
from .preview import CONTACT_INSPECT_URL_NAME, DESKTOP_WIDTH
from .views import TieBreakOrderingMixin

#: Sources whose ``source_id`` is an EmailTemplate's id.
TEMPLATE_SOURCES = ("template", TEST_SOURCE)
TEMPLATE_EDIT_URL_NAME = "oneonone_email_template:edit"


class OutboxMessageFilterSet(WagtailFilterSet):
    status = django_filters.MultipleChoiceFilter(
        label=gettext_lazy("Status"),
        choices=OutboxStatus.choices,
        widget=forms.CheckboxSelectMultiple,
        distinct=False,  # no joins, so no duplicates: spare the database a DISTINCT
    )
    source_type = django_filters.ChoiceFilter(
        label=gettext_lazy("Source"), choices=[], empty_label=gettext_lazy("All")
    )
    # A campaign page links here with its campaign's id (the rows' ``source_id``).
    source_id = django_filters.CharFilter(label=gettext_lazy("Source id"))
    kind = django_filters.ChoiceFilter(
        label=gettext_lazy("Kind"),
        choices=MessageKind.choices,
        empty_label=gettext_lazy("All"),
        widget=forms.RadioSelect,
    )
    contact_email = django_filters.CharFilter(
        label=gettext_lazy("Contact email contains"),
        field_name="contact__email",
        lookup_expr="icontains",
    )
    sent_at = django_filters.DateFromToRangeFilter(
        label=gettext_lazy("Sent"), widget=DateRangePickerWidget
    )

    class Meta:
        model = OutboxMessage
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters["source_type"].extra["choices"] = [(name, name) for name in source_types()]


def source_types() -> list[str]:
    """The registered message sources (templates and tests today; campaigns, flows later).

    Read from the registry rather than with a DISTINCT over the outbox, which would scan
    every message on each page load.
    """
    return sources.registered_source_types()


def source_label(message: OutboxMessage) -> str:
    return f"{message.source_type}:{message.source_id}"


class OutboxMessageIndexView(RegistryPolicyViewMixin, TieBreakOrderingMixin, generic.IndexView):
    page_title = gettext_lazy("Sent messages")
    any_permission_required = ["view"]

    def get_base_queryset(self) -> QuerySet[OutboxMessage]:
        # The listing never needs the stored context (JSON) of a message.
        return super().get_base_queryset().select_related("contact").defer("context")

    def search_queryset(self, queryset: QuerySet[OutboxMessage]) -> QuerySet[OutboxMessage]:
        # Every word must match the contact's address or the subject.
        if not self.is_searching:
            return queryset
        query = Q()
        for word in self.search_query.split():
            query &= Q(contact__email__icontains=word) | Q(subject__icontains=word)
        return queryset.filter(query)

    @cached_property
    def columns(self) -> list[Any]:
        title_column = self._get_title_column_class(TitleColumn)
        return [
            title_column(
                "contact_email",
                accessor="contact.email",
                label=gettext_lazy("Contact"),
                sort_key="contact__email",
                get_url=self.get_inspect_url,
            ),
            Column("subject", label=gettext_lazy("Subject"), sort_key="subject"),
            Column("source", accessor=source_label, label=gettext_lazy("Source")),
            Column("get_kind_display", label=gettext_lazy("Kind"), sort_key="kind"),
            StatusTagColumn(
                "get_status_display",
                label=gettext_lazy("Status"),
                sort_key="status",
                primary=lambda message: message.status == OutboxStatus.SENT,
            ),
            DateColumn("scheduled_at", label=gettext_lazy("Scheduled"), sort_key="scheduled_at"),
            DateColumn("sent_at", label=gettext_lazy("Sent at"), sort_key="sent_at"),
            Column("attempts", label=gettext_lazy("Attempts"), sort_key="attempts"),
        ]

    @cached_property
    def can_view_contacts(self) -> bool:
        return user_can_view_contacts(self.request.user)

    def get_list_more_buttons(self, instance: OutboxMessage) -> list[Any]:
        buttons = super().get_list_more_buttons(instance)
        if self.can_view_contacts:
            url = reverse(CONTACT_INSPECT_URL_NAME, args=(quote(instance.contact_id),))
            buttons.append(more_button(_("Contact page"), url=url, icon_name="user", priority=30))
        return buttons


class OutboxMessageInspectView(RegistryPolicyViewMixin, generic.InspectView):
    """Everything about one message, and, once sent, exactly what went to the backend."""

    any_permission_required = ["view"]
    template_name = "wagtail_oneonone/admin/message_inspect.html"
    page_title = gettext_lazy("Message")

    def get_object(self, queryset: Any = None) -> OutboxMessage:
        return get_object_or_404(OutboxMessage.objects.select_related("contact"), pk=self.pk)

    def get_fields(self) -> list[str]:
        return []  # the template lays the message out itself

    def get_page_subtitle(self) -> str:
        message: OutboxMessage = self.object
        return message.subject or message.contact.email

    def source_url(self, message: OutboxMessage) -> str:
        if message.source_type not in TEMPLATE_SOURCES or not message.source_id.isdigit():
            return ""
        policy = policy_registry.get_by_type(EmailTemplate)
        if not policy.user_has_permission(self.request.user, "change"):
            return ""
        if not EmailTemplate.objects.filter(pk=message.source_id).exists():
            return ""  # deleted since
        return reverse(TEMPLATE_EDIT_URL_NAME, args=(message.source_id,))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        message: OutboxMessage = self.object
        content = SentContent.objects.filter(message=message).first()
        context.update(
            message=message,
            content=content,
            headers=list((content.headers or {}).items()) if content else [],
            is_test=message.source_type == TEST_SOURCE,
            deliver_to=(message.context or {}).get("deliver_to", ""),
            source=source_label(message),
            source_url=self.source_url(message),
            contact_url=reverse(CONTACT_INSPECT_URL_NAME, args=(quote(message.contact_id),))
            if user_can_view_contacts(self.request.user)
            else "",
            desktop_width=DESKTOP_WIDTH,
        )
        return context
