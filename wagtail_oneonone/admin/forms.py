"""Forms for the contacts admin: the contact form, consent, erasure and the CSV import wizard."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from wagtail.admin.forms import WagtailAdminModelForm

from ..conf import app_settings
from ..contacts import importing
from ..contacts.services import clean_attributes
from ..exceptions import ContactValidationError
from ..models import ConsentStatus, Contact
from ..validation import normalize_email, validate_time_zone

_IMPORT_EXTENSIONS = (".csv", ".txt", ".tsv")


class AttributesField(forms.JSONField):
    """Custom attributes as indented JSON; an empty box means no attributes."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("encoder", DjangoJSONEncoder)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)
        return super().prepare_value(value)


class ContactForm(WagtailAdminModelForm):
    """Profile fields only: consent changes go through ConsentForm so each one is audited."""

    attributes = AttributesField(
        label=_("Custom attributes"),
        required=False,
        help_text=_('A JSON object, for example {"shoe_size": 42, "newsletter": "weekly"}.'),
    )

    class Meta:
        model = Contact
        fields = [
            "email",
            "first_name",
            "last_name",
            "time_zone",
            "locale",
            "birthday",
            "customer_since",
            "source",
            "attributes",
        ]

    def clean_email(self) -> str:
        try:
            return normalize_email(self.cleaned_data.get("email", ""))
        except ContactValidationError as exc:
            raise ValidationError(exc.message) from None

    def clean_time_zone(self) -> str:
        try:
            return validate_time_zone(self.cleaned_data.get("time_zone", "").strip())
        except ContactValidationError as exc:
            raise ValidationError(exc.message) from None

    def clean_attributes(self) -> dict[str, Any]:
        value = self.cleaned_data.get("attributes")
        if value in (None, ""):
            return {}
        try:
            return clean_attributes(value)
        except ContactValidationError as exc:
            raise ValidationError(exc.message) from None


class ConsentForm(forms.Form):
    status = forms.ChoiceField(label=_("New consent status"), choices=ConsentStatus.choices)
    source = forms.CharField(
        label=_("Source"),
        max_length=200,
        help_text=_("How the person gave or withdrew consent, e.g. “asked by phone, 3 May”."),
    )

    def clean_source(self) -> str:
        source = self.cleaned_data["source"].strip()
        if not source:
            raise ValidationError(_("Say where this consent change comes from."))
        return source


class EraseForm(forms.Form):
    confirm_email = forms.CharField(
        label=_("Type the contact's email address to confirm"), max_length=254
    )
    reason = forms.CharField(
        label=_("Reason (optional)"),
        max_length=200,
        required=False,
        help_text=_("Kept on the erasure record, e.g. “erasure request by email”."),
    )

    def __init__(self, *args: Any, contact: Contact, **kwargs: Any) -> None:
        self.contact = contact
        super().__init__(*args, **kwargs)

    def clean_confirm_email(self) -> str:
        typed = self.cleaned_data["confirm_email"]
        try:
            matches = normalize_email(typed) == self.contact.email
        except ContactValidationError:
            matches = False
        if not matches:
            raise ValidationError(_("That is not this contact's email address."))
        return typed


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "A CSV file saved as UTF-8 with a header row naming the columns; one column must "
            "hold email addresses."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,.txt,.tsv"}),
    )
    consent_status = forms.ChoiceField(
        label=_("Consent for these contacts"),
        choices=[
            (ConsentStatus.SUBSCRIBED, _("Subscribed: they agreed to receive marketing email")),
            (ConsentStatus.NONE, _("None: no marketing consent (keep existing consent)")),
            (ConsentStatus.UNSUBSCRIBED, _("Unsubscribed: they opted out")),
            (ConsentStatus.PENDING, _("Pending: waiting for double opt-in")),
        ],
        initial=ConsentStatus.NONE,
        widget=forms.RadioSelect,
        help_text=_(
            "Applied to every row. An import never resubscribes someone who unsubscribed and "
            "never downgrades an existing subscription."
        ),
    )
    consent_source = forms.CharField(
        label=_("Consent source"),
        max_length=200,
        help_text=_(
            "Where this list's consent comes from, e.g. “Shop sign-up form 2019-2024”. "
            "It is recorded on every consent change."
        ),
    )

    def clean_consent_source(self) -> str:
        source = self.cleaned_data["consent_source"].strip()
        if not source:
            raise ValidationError(_("Say where the consent in this list comes from."))
        return source

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        name = (upload.name or "").lower()
        if not name.endswith(_IMPORT_EXTENSIONS):
            raise ValidationError(
                _("Upload a CSV file (.csv). Spreadsheets: use “Save as” → “CSV UTF-8”.")
            )
        limit = int(app_settings.IMPORT_MAX_FILE_BYTES)
        if upload.size is not None and upload.size > limit:
            raise ValidationError(
                _("The file is %(size)s; the limit is %(limit)s.")
                % {"size": filesizeformat(upload.size), "limit": filesizeformat(limit)}
            )
        data = upload.read()
        try:
            summary = importing.inspect_csv(data)
        except importing.ImportFileError as exc:
            raise ValidationError(exc.message) from None
        self.file_data = data
        self.summary = summary
        return upload


class ImportMappingForm(forms.Form):
    """One select per CSV column: a contact field, a custom attribute, or ignore."""

    def __init__(self, *args: Any, header: list[str], guessed: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header = header
        for index, name in enumerate(header):
            self.fields[self.field_name(index)] = forms.ChoiceField(
                label=name or _("Column %(number)d") % {"number": index + 1},
                choices=importing.mapping_choices(header, index),
                initial=guessed[index] if index < len(guessed) else importing.IGNORE,
                required=False,
            )

    @staticmethod
    def field_name(index: int) -> str:
        return f"column_{index}"

    def column_fields(self) -> list[forms.BoundField]:
        return [self[self.field_name(index)] for index in range(len(self.header))]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        targets = [cleaned.get(self.field_name(i)) or "" for i in range(len(self.header))]
        try:
            self.mapping = importing.clean_mapping(self.header, targets)
        except importing.ImportMappingError as exc:
            raise ValidationError(exc.message) from None
        return cleaned
