"""Admin views for the CSV import wizard: upload, column mapping, progress and reports."""

from __future__ import annotations

import csv
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import FormView, TemplateView, View
from wagtail.admin import messages
from wagtail.admin.ui.tables import Column, DateColumn, StatusTagColumn, TitleColumn, UserColumn
from wagtail.admin.views import generic
from wagtail.admin.views.generic.base import BaseObjectMixin, WagtailAdminTemplateMixin
from wagtail.admin.views.generic.permissions import PermissionCheckedMixin

from ..contacts import importing
from ..models import ConsentStatus, ContactImport
from . import forms
from .compat import RegistryPolicyViewMixin
from .views import TieBreakOrderingMixin

IMPORT_ERRORS_PER_PAGE = 100


class ImportIndexView(RegistryPolicyViewMixin, TieBreakOrderingMixin, generic.IndexView):
    model = ContactImport
    page_title = gettext_lazy("Contact imports")
    default_ordering = "-created_at"

    @cached_property
    def add_item_label(self) -> str:
        return _("Import a CSV file")

    @cached_property
    def columns(self) -> list[Any]:
        return [
            TitleColumn(
                "original_name",
                label=gettext_lazy("File"),
                sort_key="original_name",
                get_url=self.get_inspect_url,
            ),
            StatusTagColumn(
                "get_status_display",
                label=gettext_lazy("Status"),
                sort_key="status",
                primary=lambda imp: imp.status == ContactImport.Status.DONE,
            ),
            Column("total_rows", label=gettext_lazy("Rows")),
            Column("created_count", label=gettext_lazy("Created")),
            Column("updated_count", label=gettext_lazy("Updated")),
            Column("error_count", label=gettext_lazy("Not imported")),
            UserColumn("created_by", label=gettext_lazy("By")),
            DateColumn("created_at", label=gettext_lazy("Uploaded"), sort_key="created_at"),
        ]

    def get_base_queryset(self) -> QuerySet[ContactImport]:
        return super().get_base_queryset().select_related("created_by").defer("errors")

    def get_list_more_buttons(self, instance: ContactImport) -> list[Any]:
        return []


class ImportViewMixin(RegistryPolicyViewMixin, PermissionCheckedMixin, WagtailAdminTemplateMixin):
    """Shared by the import wizard's steps; every action needs ``import_contacts``."""

    model = ContactImport
    permission_required = "add"
    header_icon = "upload"
    index_url_name: str | None = None
    upload_url_name: str | None = None
    mapping_url_name: str | None = None
    discard_url_name: str | None = None
    detail_url_name: str | None = None
    status_url_name: str | None = None
    errors_url_name: str | None = None

    def url_for(self, name: str | None, contact_import: ContactImport) -> str:
        assert name
        return reverse(name, args=(contact_import.pk,))

    def get_breadcrumbs_items(self) -> list[dict[str, Any]]:
        items = [*self.breadcrumbs_items]
        if self.index_url_name:
            items.append({"url": reverse(self.index_url_name), "label": _("Contact imports")})
        items.append({"url": "", "label": self.get_page_title()})
        return items


class ImportUploadView(ImportViewMixin, FormView):
    """Step 1: the file, and the consent to record for its contacts."""

    template_name = "wagtail_oneonone/admin/import_upload.html"
    page_title = gettext_lazy("Import contacts: upload")
    form_class = forms.ImportUploadForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            action_url=reverse(self.upload_url_name) if self.upload_url_name else "",
            submit_button_label=_("Upload and map columns"),
            submit_button_active_label=_("Uploading…"),
            media=context["form"].media,
        )
        return context

    def form_valid(self, form: forms.ImportUploadForm) -> HttpResponse:
        importing.discard_stale_uploads()
        contact_import = importing.create_import(
            form.file_data,
            form.cleaned_data["file"].name or "",
            consent_source=form.cleaned_data["consent_source"],
            consent_status=form.cleaned_data["consent_status"],
            user=self.request.user,
            summary=form.summary,
        )
        return redirect(self.url_for(self.mapping_url_name, contact_import))


class ImportObjectMixin(RegistryPolicyViewMixin, BaseObjectMixin):
    model = ContactImport

    def get_pk(self) -> int:
        return int(self.kwargs[self.pk_url_kwarg])


class ImportMappingView(ImportObjectMixin, ImportViewMixin, FormView):
    """Step 2: what each column holds; starting the import enqueues the task."""

    template_name = "wagtail_oneonone/admin/import_mapping.html"
    page_title = gettext_lazy("Import contacts: map columns")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if self.object.status != ContactImport.Status.UPLOADED:
            return redirect(self.url_for(self.detail_url_name, self.object))
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def preview(self) -> importing.CsvPreview:
        return importing.preview_import(self.object)

    def get_form(self, form_class: Any = None) -> forms.ImportMappingForm:
        return forms.ImportMappingForm(
            **self.get_form_kwargs(), header=self.preview.header, guessed=self.preview.guessed
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context["form"]
        context.update(
            contact_import=self.object,
            preview=self.preview,
            columns=list(zip(form.column_fields(), range(len(self.preview.header)), strict=True)),
            action_url=self.url_for(self.mapping_url_name, self.object),
            discard_url=self.url_for(self.discard_url_name, self.object),
            submit_button_label=_("Start import"),
            submit_button_active_label=_("Starting…"),
            media=form.media,
        )
        return context

    def form_valid(self, form: forms.ImportMappingForm) -> HttpResponse:
        from ..tasks import enqueue_contact_import

        importing.start_import(self.object, form.mapping)
        enqueue_contact_import(self.object.pk)
        return redirect(self.url_for(self.detail_url_name, self.object))


class ImportDiscardView(ImportObjectMixin, PermissionCheckedMixin, View):
    model = ContactImport
    permission_required = "add"
    http_method_names = ["post"]
    index_url_name: str | None = None

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.object.status == ContactImport.Status.UPLOADED:
            importing.discard_import(self.object)
            messages.success(request, _("The upload was discarded and its file deleted."))
        return redirect(self.index_url_name or "wagtailadmin_home")


def import_status(contact_import: ContactImport) -> dict[str, Any]:
    finished = contact_import.status in (ContactImport.Status.DONE, ContactImport.Status.FAILED)
    return {
        "status": contact_import.status,
        "status_label": str(contact_import.get_status_display()),
        "processed_rows": contact_import.processed_rows,
        "total_rows": contact_import.total_rows,
        "percent": contact_import.percent,
        "created": contact_import.created_count,
        "updated": contact_import.updated_count,
        "errors": contact_import.error_count,
        "finished": finished,
    }


class ImportDetailView(ImportObjectMixin, ImportViewMixin, TemplateView):
    """Step 4: progress while the worker runs, then the summary and the per-row reports."""

    permission_required = "view"
    template_name = "wagtail_oneonone/admin/import_detail.html"
    page_title = gettext_lazy("Contact import")

    def get_page_subtitle(self) -> str:
        return self.object.original_name

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        status = import_status(self.object)
        errors = self.object.errors or []
        page = Paginator(errors, IMPORT_ERRORS_PER_PAGE).get_page(self.request.GET.get("p"))
        kinds = {"error": 0, "skipped": 0, "duplicate": 0, "batch": 0}
        for entry in errors:
            kinds[entry.get("kind", "error")] = kinds.get(entry.get("kind", "error"), 0) + 1
        unchanged = max(
            0,
            self.object.processed_rows
            - self.object.created_count
            - self.object.updated_count
            - self.object.error_count,
        )
        context.update(
            contact_import=self.object,
            consent_label=dict(ConsentStatus.choices).get(self.object.consent_status, ""),
            progress=status,
            unchanged=unchanged,
            errors_page=page,
            error_kinds=kinds,
            errors_truncated=len(errors) >= importing.MAX_STORED_ERRORS,
            status_url=self.url_for(self.status_url_name, self.object),
            errors_url=self.url_for(self.errors_url_name, self.object) if errors else "",
            mapping_url=self.url_for(self.mapping_url_name, self.object)
            if self.object.status == ContactImport.Status.UPLOADED
            else "",
        )
        return context


class ImportStatusView(ImportObjectMixin, PermissionCheckedMixin, View):
    """The small JSON document the progress page polls."""

    model = ContactImport
    permission_required = "view"
    http_method_names = ["get"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return JsonResponse(import_status(self.object))


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_safe(value: Any) -> str:
    # Cells starting with = + - @ are formulas to spreadsheet apps (CSV injection).
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class ImportErrorsCsvView(ImportObjectMixin, PermissionCheckedMixin, View):
    model = ContactImport
    permission_required = "view"
    http_method_names = ["get"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        writer = csv.writer(_Echo())
        lines = [writer.writerow(["row", "last_row", "kind", "field", "message"])]
        for entry in self.object.errors or []:
            lines.append(
                writer.writerow(
                    [
                        entry.get("row", ""),
                        entry.get("last_row", ""),
                        entry.get("kind", "error"),
                        _csv_safe(entry.get("field", "")),
                        _csv_safe(entry.get("message", "")),
                    ]
                )
            )
        response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="import-{self.object.pk}-errors.csv"'
        )
        return response
