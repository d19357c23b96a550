"""The preference centre's form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..conf import app_settings
from ..models import Contact
from ..models.contacts import EmailFrequency

#: Pause lengths offered, in weeks.
PAUSE_WEEKS = (2, 4, 8, 12)
KEEP_PAUSE = "keep"
NO_PAUSE = "0"


class TopicsField(forms.MultipleChoiceField):
    """Checkboxes of topics; keys that are not (or no longer) topics are dropped, not refused."""

    def clean(self, value: Any) -> list[str]:
        kept = [key for key in self.to_python(value) if self.valid_value(key)]
        return list(super().clean(kept))


class PreferencesForm(forms.Form):
    frequency = forms.ChoiceField(
        label=_("How often"), choices=EmailFrequency.choices, widget=forms.RadioSelect
    )
    topics = TopicsField(
        label=_("What about"), required=False, widget=forms.CheckboxSelectMultiple
    )
    pause = forms.ChoiceField(label=_("Pause marketing email"), required=False)

    def __init__(self, *args: Any, contact: Contact, paused_until_text: str = "", **kwargs: Any):
        opted_out = set(contact.topics_opted_out or [])
        topics: dict[str, str] = dict(app_settings.TOPICS)
        kwargs.setdefault(
            "initial",
            {
                "frequency": contact.email_frequency,
                "topics": [key for key in topics if key not in opted_out],
                "pause": KEEP_PAUSE if paused_until_text else NO_PAUSE,
            },
        )
        super().__init__(*args, **kwargs)
        topics_field = self.fields["topics"]
        assert isinstance(topics_field, forms.MultipleChoiceField)
        topics_field.choices = list(topics.items())
        weeks = [
            (str(n), ngettext("For %(n)d week", "For %(n)d weeks", n) % {"n": n})
            for n in PAUSE_WEEKS
        ]
        pause_field = self.fields["pause"]
        assert isinstance(pause_field, forms.ChoiceField)
        if paused_until_text:
            shown = [
                (KEEP_PAUSE, _("Stay paused until %(date)s") % {"date": paused_until_text}),
                (NO_PAUSE, _("Resume now")),
                *weeks,
            ]
            valid = shown
        else:
            shown = [(NO_PAUSE, _("Don't pause")), *weeks]
            # "keep" stays valid when a pause ran out between showing the page and saving.
            valid = [(KEEP_PAUSE, _("Keep as it is")), *shown]
        pause_field.choices = valid
        pause_field.widget.choices = shown

    def topics_opted_out(self) -> list[str]:
        wanted = set(self.cleaned_data["topics"])
        return [key for key in app_settings.TOPICS if key not in wanted]

    def pause_weeks(self) -> int | None:
        """Weeks to pause from now, 0 to resume, None to leave the pause as it is."""
        value = self.cleaned_data.get("pause") or KEEP_PAUSE
        return None if value == KEEP_PAUSE else int(value)
