"""The "One-to-one" admin menu group: contacts, segments, imports, campaigns, flows, email
layouts, templates, sent messages, suppressions.

Every viewset has an explicit ``oneonone_`` name, so its URLs (``/admin/oneonone_contact/``)
and URL namespace never clash with the host's own models.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_permission_codename
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet
from django.urls import URLPattern, path
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from wagtail.admin.menu import MenuItem
from wagtail.admin.panels import FieldPanel, ObjectList, TitleFieldPanel
from wagtail.admin.viewsets.base import ViewSet, ViewSetGroup
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets.slug import SlugInput

from ..models import (
    Contact,
    ContactImport,
    EmailTemplate,
    OutboxMessage,
    Segment,
    Suppression,
)
from . import import_views, messages, preview, segments, templates_admin, views
from .campaigns import CampaignViewSet, EmailLayoutViewSet
from .compat import RegisteredPolicyMixin, policy_registry
from .filters import ContactFilterSet, SuppressionFilterSet
from .flows import FlowViewSet
from .forms import ContactForm
from .segment_forms import SegmentForm


class PolicyMenuItemMixin:
    """A menu item shown only to users the model's permission policy allows."""

    model: type[Model]
    menu_permissions: tuple[str, ...] = ("view",)

    @cached_property
    def menu_item_class(self) -> type[MenuItem]:
        model, actions = self.model, self.menu_permissions

        def is_shown(item: MenuItem, request: Any) -> bool:
            policy = policy_registry.get_by_type(model)
            return bool(policy.user_has_any_permission(request.user, actions))

        return type(f"{model.__name__}MenuItem", (MenuItem,), {"is_shown": is_shown})


class ContactViewSet(RegisteredPolicyMixin, ModelViewSet):
    model = Contact
    name = "oneonone_contact"
    icon = "user"
    menu_label = _("Contacts")
    menu_name = "oneonone-contacts"
    # Contacts change with every tracked sign-up; nothing references them through Wagtail.
    add_to_reference_index = False
    copy_view_enabled = False
    inspect_view_enabled = True
    index_view_class = views.ContactIndexView
    add_view_class = views.ContactCreateView
    edit_view_class = views.ContactEditView
    inspect_view_class = views.ContactInspectView
    filterset_class = ContactFilterSet
    ordering = "-created_at"
    list_per_page = 50
    search_fields = ["email", "first_name", "last_name"]
    search_backend_name = None  # plain database search: contacts are not in the search index

    def get_form_class(self, for_update: bool = False) -> type[ContactForm]:
        return ContactForm

    def get_common_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # No generic delete: contacts are removed by erasure, which leaves an ErasureRecord.
        return super().get_common_view_kwargs(
            delete_url_name=None,
            usage_url_name=None,
            export_url_name=self.get_url_name("export"),
            erase_url_name=self.get_url_name("erase"),
            consent_url_name=self.get_url_name("consent"),
            **kwargs,
        )

    @property
    def export_view(self) -> Any:
        return self.construct_view(views.ContactExportView)

    @property
    def erase_view(self) -> Any:
        return self.construct_view(views.ContactEraseView)

    @property
    def consent_view(self) -> Any:
        return self.construct_view(views.ContactConsentView)

    def get_urlpatterns(self) -> list[URLPattern]:
        patterns = [
            pattern
            for pattern in super().get_urlpatterns()
            if pattern.name not in {"delete", "usage", "copy"}
        ]
        return [
            *patterns,
            path("export/<int:pk>/", self.export_view, name="export"),
            path("erase/<int:pk>/", self.erase_view, name="erase"),
            path("consent/<int:pk>/", self.consent_view, name="consent"),
        ]


class SegmentViewSet(RegisteredPolicyMixin, ModelViewSet):
    """Segments: the builder (create, edit), the segment page, members as CSV, live counts."""

    model = Segment
    name = "oneonone_segment"
    icon = "group"
    menu_label = _("Segments")
    menu_name = "oneonone-segments"
    # Its own model permissions (add/change/delete/view) through the registry's default policy.
    add_to_reference_index = False
    copy_view_enabled = False
    inspect_view_enabled = True
    index_view_class = segments.SegmentIndexView
    add_view_class = segments.SegmentCreateView
    edit_view_class = segments.SegmentEditView
    inspect_view_class = segments.SegmentInspectView
    delete_view_class = segments.SegmentDeleteView
    edit_handler = ObjectList(
        [
            TitleFieldPanel("name", targets=["slug"], placeholder=_("Segment name*")),
            FieldPanel("slug", widget=SlugInput),
            FieldPanel("description"),
            FieldPanel("rules"),
        ],
        base_form_class=SegmentForm,
    )
    ordering = "name"
    list_per_page = 50
    search_fields = ["name", "slug", "description"]
    search_backend_name = None  # plain database search: segments are not in the search index

    def get_common_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # No usage view: segments refer to each other inside their rules, not through
        # Wagtail's reference index; the delete view checks those references itself.
        return super().get_common_view_kwargs(
            usage_url_name=None,
            export_url_name=self.get_url_name("export"),
            **kwargs,
        )

    def get_urlpatterns(self) -> list[URLPattern]:
        patterns = [
            pattern for pattern in super().get_urlpatterns() if pattern.name not in {"usage"}
        ]
        return [
            *patterns,
            path("preview/", self.construct_view(segments.SegmentPreviewView), name="preview"),
            path(
                "export/<int:pk>/",
                self.construct_view(segments.SegmentExportView),
                name="export",
            ),
        ]


class ContactImportViewSet(RegisteredPolicyMixin, PolicyMenuItemMixin, ViewSet):
    model = ContactImport
    name = "oneonone_contact_import"
    icon = "upload"
    menu_label = _("Import contacts")
    menu_name = "oneonone-contact-imports"
    menu_permissions = ("add",)

    def get_common_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        names = {
            "index_url_name": "index",
            "index_results_url_name": "index_results",
            "upload_url_name": "upload",
            "add_url_name": "upload",
            "mapping_url_name": "mapping",
            "discard_url_name": "discard",
            "detail_url_name": "detail",
            "inspect_url_name": "detail",
            "status_url_name": "status",
            "errors_url_name": "errors",
        }
        return super().get_common_view_kwargs(
            model=ContactImport,
            header_icon=self.icon,
            **{key: self.get_url_name(value) for key, value in names.items()},
            **kwargs,
        )

    def get_urlpatterns(self) -> list[URLPattern]:
        return [
            path(
                "", self.construct_view(import_views.ImportIndexView, paginate_by=50), name="index"
            ),
            path(
                "results/",
                self.construct_view(
                    import_views.ImportIndexView, paginate_by=50, results_only=True
                ),
                name="index_results",
            ),
            path("new/", self.construct_view(import_views.ImportUploadView), name="upload"),
            path("<int:pk>/", self.construct_view(import_views.ImportDetailView), name="detail"),
            path(
                "<int:pk>/mapping/",
                self.construct_view(import_views.ImportMappingView),
                name="mapping",
            ),
            path(
                "<int:pk>/discard/",
                self.construct_view(import_views.ImportDiscardView),
                name="discard",
            ),
            path(
                "<int:pk>/status/",
                self.construct_view(import_views.ImportStatusView),
                name="status",
            ),
            path(
                "<int:pk>/errors.csv",
                self.construct_view(import_views.ImportErrorsCsvView),
                name="errors",
            ),
        ]


class SuppressionViewSet(RegisteredPolicyMixin, PolicyMenuItemMixin, ViewSet):
    """The suppression list, read-only."""

    model = Suppression
    name = "oneonone_suppression"
    icon = "no-view"
    menu_label = _("Suppressions")
    menu_name = "oneonone-suppressions"
    menu_permissions = ("view",)

    def get_common_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_common_view_kwargs(
            model=Suppression,
            header_icon=self.icon,
            index_url_name=self.get_url_name("index"),
            index_results_url_name=self.get_url_name("index_results"),
            filterset_class=SuppressionFilterSet,
            paginate_by=50,
            **kwargs,
        )

    def get_urlpatterns(self) -> list[URLPattern]:
        return [
            path("", self.construct_view(views.SuppressionIndexView), name="index"),
            path(
                "results/",
                self.construct_view(views.SuppressionIndexView, results_only=True),
                name="index_results",
            ),
        ]


class EmailTemplateViewSet(RegisteredPolicyMixin, ModelViewSet):
    """Email templates, validated on save; each has a preview as any contact and test sends."""

    model = EmailTemplate
    name = "oneonone_email_template"
    icon = "doc-full"
    menu_label = _("Email templates")
    menu_name = "oneonone-email-templates"
    # Its own model permissions (add/change/delete/view) through the registry's default policy.
    add_to_reference_index = False
    index_view_class = templates_admin.EmailTemplateIndexView
    add_view_class = templates_admin.EmailTemplateCreateView
    edit_view_class = templates_admin.EmailTemplateEditView
    ordering = "name"
    list_per_page = 50
    search_fields = ["name", "subject"]
    search_backend_name = None  # plain database search: templates are not in the search index

    def get_form_class(self, for_update: bool = False) -> type[templates_admin.EmailTemplateForm]:
        return templates_admin.EmailTemplateForm

    def get_common_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_common_view_kwargs(
            preview_url_name=self.get_url_name("preview"),
            send_test_url_name=self.get_url_name("send_test"),
            **kwargs,
        )

    def get_permissions_to_register(self) -> QuerySet[Permission]:
        # "view" too, though there is no inspect view: it allows the preview and test sends.
        content_type = ContentType.objects.get_for_model(self.model)
        return Permission.objects.filter(content_type=content_type)

    def get_urlpatterns(self) -> list[URLPattern]:
        return [
            *super().get_urlpatterns(),
            path(
                "preview/<int:pk>/",
                self.construct_view(preview.TemplatePreviewView),
                name="preview",
            ),
            path(
                "send-test/<int:pk>/",
                self.construct_view(preview.TemplateSendTestView),
                name="send_test",
            ),
        ]


class OutboxMessageViewSet(RegisteredPolicyMixin, ModelViewSet):
    """Sent messages (the outbox), read-only: a listing and a page per message."""

    model = OutboxMessage
    name = "oneonone_message"
    icon = "mail"
    menu_label = _("Sent messages")
    menu_name = "oneonone-messages"
    # The outbox churns with every send: keep it out of the reference index.
    add_to_reference_index = False
    copy_view_enabled = False
    inspect_view_enabled = True
    index_view_class = messages.OutboxMessageIndexView
    inspect_view_class = messages.OutboxMessageInspectView
    filterset_class = messages.OutboxMessageFilterSet
    ordering = "-id"  # newest first, along the primary key's index
    list_per_page = 50
    search_fields = ["contact__email", "subject"]
    search_backend_name = None

    def get_common_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_common_view_kwargs(
            add_url_name=None,
            edit_url_name=None,
            delete_url_name=None,
            history_url_name=None,
            usage_url_name=None,
            **kwargs,
        )

    def get_permissions_to_register(self) -> QuerySet[Permission]:
        # Only "view" means anything: no one adds, changes or deletes messages in the admin.
        content_type = ContentType.objects.get_for_model(self.model)
        codename = get_permission_codename("view", self.model._meta)
        return Permission.objects.filter(content_type=content_type, codename=codename)

    def register_admin_url_finder(self) -> None:
        pass  # there is no edit view to find

    def get_urlpatterns(self) -> list[URLPattern]:
        return [
            path("", self.index_view, name="index"),
            path("results/", self.index_results_view, name="index_results"),
            path("inspect/<int:pk>/", self.inspect_view, name="inspect"),
        ]


class OneOnOneViewSetGroup(ViewSetGroup):
    menu_label = _("One-to-one")
    menu_icon = "mail"
    menu_name = "oneonone"
    items = (
        ContactViewSet,
        SegmentViewSet,
        ContactImportViewSet,
        CampaignViewSet,
        FlowViewSet,
        EmailLayoutViewSet,
        EmailTemplateViewSet,
        OutboxMessageViewSet,
        SuppressionViewSet,
    )
