"""Email templates in the admin: a form that validates the Jinja2 on save, and its views.

Errors (the template cannot render) refuse the save and sit on the field they belong to;
warnings (unknown variables, probably typos) let it save and are shown as a message.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from django import forms
from django.contrib.admin.utils import quote
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin import messages
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.ui.tables import Column, DateColumn, TitleColumn
from wagtail.admin.views import generic
from wagtail.admin.widgets.button import Button

from ..conf import app_settings
from ..models import EmailTemplate
from ..rendering import TemplateIssue, TemplateSource, validate_template
from .compat import RegistryPolicyViewMixin, more_button

#: The form field each template part is written in.
PART_FIELDS = {
    "subject": "subject",
    "preheader": "preheader",
    "html": "html_body",
    "text": "text_body",
}
#: Actions that let a user preview a template and send a test of it to themselves.
PREVIEW_ACTIONS = ("view", "change")

_CODE_STYLE = (
    "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace;"
    " font-size: 0.875rem; tab-size: 2;"
)


def code_textarea(rows: int) -> forms.Textarea:
    return forms.Textarea(
        attrs={
            "rows": rows,
            "spellcheck": "false",
            "autocapitalize": "off",
            "autocomplete": "off",
            "class": "oneonone-code",
            "style": _CODE_STYLE,
        }
    )


def describe_issue(issue: TemplateIssue) -> str:
    if issue.line:
        return _("Line %(line)d: %(message)s") % {"line": issue.line, "message": issue.message}
    return issue.message


class EmailTemplateForm(WagtailAdminModelForm):
    topic = forms.ChoiceField(
        label=gettext_lazy("Topic"),
        required=False,
        help_text=gettext_lazy(
            "Contacts who opted out of this topic do not get it. Leave empty for email that "
            "belongs to no topic."
        ),
    )

    class Meta:
        model = EmailTemplate
        fields = [
            "name",
            "kind",
            "topic",
            "subject",
            "preheader",
            "html_body",
            "text_body",
            "from_email",
            "reply_to",
        ]
        widgets = {
            "html_body": code_textarea(24),
            "text_body": code_textarea(12),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read when the form is built, so settings overridden at run time are honoured.
        choices = [("", _("No topic"))]
        choices += [(str(key), str(label)) for key, label in dict(app_settings.TOPICS).items()]
        current = self.instance.topic if self.instance else ""
        if current and current not in dict(choices):
            # A topic since removed from TOPICS stays selectable, so saving keeps it.
            choices.append((current, _("%(topic)s (not in TOPICS)") % {"topic": current}))
        self.fields["topic"].choices = choices
        for name in ("subject", "preheader"):
            self.fields[name].widget.attrs.setdefault("style", _CODE_STYLE)
        self.template_warnings: list[TemplateIssue] = []

    def _clean_address(self, name: str) -> str:
        value = (self.cleaned_data.get(name) or "").strip()
        if value:
            _display, address = parseaddr(value)
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(
                    _("Enter an address, optionally with a name: “Jo Maker <jo@shop.example>”.")
                ) from None
        return value

    def clean_from_email(self) -> str:
        return self._clean_address("from_email")

    def clean_reply_to(self) -> str:
        return self._clean_address("reply_to")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # A part whose own field was refused (e.g. too long) has its error already; "" skips it.
        source = TemplateSource(
            key=f"admin-form:{self.instance.pk or 'new'}",
            revision="unsaved",
            subject=cleaned.get("subject") or "",
            preheader=cleaned.get("preheader") or "",
            html=cleaned.get("html_body") or "",
            text=cleaned.get("text_body") or "",
        )
        self.template_warnings = []
        for issue in validate_template(source):
            if issue.severity == "error":
                self.add_error(PART_FIELDS.get(issue.part), describe_issue(issue))
            else:
                self.template_warnings.append(issue)
        return cleaned


def warnings_message(warnings: list[TemplateIssue]) -> str:
    items = format_html_join("", "<li>{}</li>", ((str(issue),) for issue in warnings))
    return format_html(
        "{}<ul>{}</ul>",
        _("The template was saved, but check these, they may be typos:"),
        items,
    )


class TemplateWarningsMixin:
    """After a save, lists the template's warnings (unknown variables) as a message."""

    def form_valid(self, form: EmailTemplateForm) -> HttpResponse:
        response: HttpResponse = super().form_valid(form)  # type: ignore[misc]
        if form.template_warnings and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            messages.warning(self.request, warnings_message(form.template_warnings))  # type: ignore[attr-defined]
        return response


class EmailTemplateIndexView(RegistryPolicyViewMixin, generic.IndexView):
    preview_url_name: str | None = None

    @cached_property
    def columns(self) -> list[Any]:
        title_column = self._get_title_column_class(TitleColumn)
        return [
            title_column(
                "name",
                label=gettext_lazy("Name"),
                sort_key="name",
                get_url=self.get_edit_url,
            ),
            Column("subject", label=gettext_lazy("Subject")),
            Column("get_kind_display", label=gettext_lazy("Kind"), sort_key="kind"),
            Column("topic", label=gettext_lazy("Topic"), sort_key="topic"),
            DateColumn("updated_at", label=gettext_lazy("Updated"), sort_key="updated_at"),
        ]

    def get_preview_url(self, instance: EmailTemplate) -> str | None:
        if self.preview_url_name and self.user_has_any_permission(PREVIEW_ACTIONS):
            return reverse(self.preview_url_name, args=(quote(instance.pk),))
        return None

    def get_list_more_buttons(self, instance: EmailTemplate) -> list[Any]:
        buttons = super().get_list_more_buttons(instance)
        if url := self.get_preview_url(instance):
            buttons.append(more_button(_("Preview"), url=url, icon_name="view", priority=15))
        return buttons


class EmailTemplateCreateView(RegistryPolicyViewMixin, TemplateWarningsMixin, generic.CreateView):
    pass


class EmailTemplateEditView(RegistryPolicyViewMixin, TemplateWarningsMixin, generic.EditView):
    preview_url_name: str | None = None

    @cached_property
    def header_more_buttons(self) -> list[Any]:
        buttons = list(super().header_more_buttons)
        if self.preview_url_name and self.user_has_any_permission(PREVIEW_ACTIONS):
            url = reverse(self.preview_url_name, args=(quote(self.object.pk),))
            buttons.append(Button(_("Preview"), url=url, icon_name="view", priority=5))
        return buttons
