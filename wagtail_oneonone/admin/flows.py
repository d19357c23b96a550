"""Flows in the admin: the listing, the editor (a form in tabs, validated as a whole) and
the viewset, with the flow page, pause and resume, and the built-in flows
(``flow_views``).

The form checks what the worker would otherwise find out late: the events and filters
exist and parse, the chosen trigger has what it needs, re-entry has its days, and an
active flow sends something. Fields of the triggers not chosen are cleared on save, so a
flow never keeps settings its editor cannot see.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.urls import URLPattern, path, reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import (
    FieldPanel,
    FieldRowPanel,
    MultiFieldPanel,
    ObjectList,
    TabbedInterface,
)
from wagtail.admin.ui.tables import Column, DateColumn, StatusTagColumn, TitleColumn
from wagtail.admin.views import generic
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.admin.widgets.button import Button, HeaderButton

from ..conf import app_settings
from ..events.types import get_event_type, registered_event_types
from ..exceptions import EventValidationError, SegmentRuleError
from ..models import Enrollment, EnrollmentStatus, Flow, FlowStatus, Reentry, TriggerType
from ..models.flows import DateField
from ..segments.conditions import ATTRIBUTE_KEY, Param, clean_value
from . import flow_views
from .campaigns import clean_address
from .compat import RegisteredPolicyMixin, RegistryPolicyViewMixin, more_button
from .flow_report import listing_counts, trigger_in_words

#: Longest wait before a contact may enter the same flow again.
MAX_REENTRY_DAYS = 365
FILTERS_HELP = gettext_lazy(
    'Optional, as in segments: [{"property": "category", "operator": "equals", '
    '"value": "shoes"}]; "items.category" matches any line of a cart or order.'
)
#: The fields each trigger type uses, and their values when another type is chosen.
TRIGGER_FIELDS: dict[str, dict[str, Any]] = {
    TriggerType.EVENT: {
        "trigger_event_type": "",
        "trigger_filters": [],
        "trigger_count": 1,
        "trigger_window_hours": None,
    },
    TriggerType.SEGMENT_ENTERED: {"trigger_segment": None},
    TriggerType.DATE: {
        "trigger_date_field": "",
        "trigger_attribute": "",
        "trigger_time": None,
        "trigger_days_before": 0,
    },
    TriggerType.ENGAGEMENT: {"trigger_engagement": ""},
}
#: Steps that put something in someone's mailbox.
SENDING_KINDS = frozenset({"send_email", "notify"})


class TriggerTypeSelect(forms.RadioSelect):
    """The trigger type; a small script shows only the chosen trigger's fields."""

    class Media:
        js = ["wagtail_oneonone/js/flow-editor.js"]


def event_type_choices(current: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Registered event types (read now: hosts register their own at start-up), plus any
    current value that is no longer registered, so the form can say so."""
    choices = [("", _("Choose an event"))]
    choices += [(t.name, f"{t.label} ({t.name})") for t in registered_event_types()]
    known = {name for name, _label in choices}
    for value in current:
        if value and value not in known:
            choices.append((value, _("%(name)s (not registered)") % {"name": value}))
    return choices


def topic_choices(current: str) -> list[tuple[str, str]]:
    choices = [("", _("No topic"))]
    choices += [(str(key), str(label)) for key, label in dict(app_settings.TOPICS).items()]
    if current and current not in dict(choices):
        choices.append((current, _("%(topic)s (not in TOPICS)") % {"topic": current}))
    return choices


def filters_error(name: str, exc: SegmentRuleError) -> str:
    """``filters[1].operator: 'is' is not…`` as "Filter 2, operator: 'is' is not…"."""
    where = str(exc.field)[len(name) :] if str(exc.field).startswith(name) else str(exc.field)
    match = re.match(r"^\[(\d+)\]\.?(.*)$", where)
    if match:
        index, rest = int(match.group(1)) + 1, match.group(2)
        where = _("Filter %(n)s") % {"n": index} + (f", {rest}" if rest else "")
    return f"{where}: {exc.message}" if where else str(exc.message)


def sends_something(steps: Iterable[Any]) -> bool:
    """Whether any step, branch sides included, sends an email or notifies someone."""
    for child in steps:
        if child.block_type in SENDING_KINDS:
            return True
        if child.block_type == "branch" and (
            sends_something(child.value.get("yes") or [])
            or sends_something(child.value.get("no") or [])
        ):
            return True
    return False


class FlowForm(WagtailAdminModelForm):
    trigger_event_type = forms.CharField(
        label=gettext_lazy("Event"), required=False, widget=forms.Select
    )
    trigger_filters = forms.JSONField(
        label=gettext_lazy("Only events where"),
        required=False,
        help_text=FILTERS_HELP,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    goal_event_type = forms.CharField(
        label=gettext_lazy("Goal: an event"),
        required=False,
        widget=forms.Select,
        help_text=gettext_lazy(
            "The flow ends for a contact who does this after entering, e.g. places an order."
        ),
    )
    goal_filters = forms.JSONField(
        label=gettext_lazy("Goal: only events where"),
        required=False,
        help_text=FILTERS_HELP,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    topic = forms.ChoiceField(
        label=gettext_lazy("Topic"),
        required=False,
        help_text=gettext_lazy("Contacts who opted out of this topic do not get its emails."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance
        current = (instance.trigger_event_type, instance.goal_event_type) if instance else ()
        for name in ("trigger_event_type", "goal_event_type"):
            self.fields[name].widget.choices = event_type_choices(current)
        self.fields["goal_event_type"].widget.choices[0] = ("", _("No goal event"))
        self.fields["topic"].choices = topic_choices(instance.topic if instance else "")
        if instance and instance.pk and "steps" in self.fields:
            active = Enrollment.objects.filter(flow=instance, status=EnrollmentStatus.ACTIVE)
            if count := active.count():
                self.fields["steps"].help_text = ngettext(
                    "%(n)s contact is in this flow now. Contacts keep their place when steps "
                    "are moved or changed; anyone at a step you remove leaves the flow.",
                    "%(n)s contacts are in this flow now. Contacts keep their place when "
                    "steps are moved or changed; anyone at a step you remove leaves the flow.",
                    count,
                ) % {"n": count}

    def clean_from_email(self) -> str:
        return clean_address(self.cleaned_data.get("from_email") or "")

    def clean_reply_to(self) -> str:
        return clean_address(self.cleaned_data.get("reply_to") or "")

    def clean_trigger_filters(self) -> Any:
        return self.cleaned_data.get("trigger_filters") or []

    def clean_goal_filters(self) -> Any:
        return self.cleaned_data.get("goal_filters") or []

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()
        trigger = cleaned.get("trigger_type")
        for kind, fields in TRIGGER_FIELDS.items():
            if kind != trigger:
                cleaned.update(fields)  # hidden in the editor: never kept
        if trigger == TriggerType.EVENT:
            self._check_event("trigger_event_type", required=True)
            self._check_filters("trigger_filters", "trigger_event_type")
        elif trigger == TriggerType.SEGMENT_ENTERED:
            if cleaned.get("trigger_segment") is None:
                self.add_error(
                    "trigger_segment", _("Choose the segment whose new members enter the flow.")
                )
        elif trigger == TriggerType.DATE:
            self._check_date()
        elif trigger == TriggerType.ENGAGEMENT and not cleaned.get("trigger_engagement"):
            self.add_error(
                "trigger_engagement", _("Choose the change in engagement that starts the flow.")
            )
        self._check_reentry()
        self._check_event("goal_event_type", required=False)
        self._check_filters("goal_filters", "goal_event_type")
        self._check_steps()
        return cleaned

    def _check_event(self, name: str, *, required: bool) -> None:
        value = self.cleaned_data.get(name) or ""
        if not value:
            if required:
                self.add_error(name, _("Choose the event that starts the flow."))
            return
        try:
            get_event_type(value)
        except EventValidationError as exc:
            self.add_error(name, str(exc.message))

    def _check_filters(self, name: str, event_field: str) -> None:
        if name not in self.cleaned_data:
            return  # already refused (not JSON)
        value = self.cleaned_data[name]
        if not value:
            self.cleaned_data[name] = []
            return
        if not self.cleaned_data.get(event_field):
            self.add_error(name, _("Filters need an event to filter; choose one or remove them."))
            return
        try:
            self.cleaned_data[name] = clean_value(Param(name, "filters"), value, name)
        except SegmentRuleError as exc:
            self.add_error(name, filters_error(name, exc))

    def _check_date(self) -> None:
        cleaned = self.cleaned_data
        date_field = cleaned.get("trigger_date_field")
        if not date_field:
            self.add_error("trigger_date_field", _("Choose the date that starts the flow."))
        if date_field == DateField.ATTRIBUTE:
            attribute = (cleaned.get("trigger_attribute") or "").strip()
            if not attribute:
                self.add_error(
                    "trigger_attribute",
                    _("Name the custom attribute that holds the date, e.g. wedding_day."),
                )
            elif not ATTRIBUTE_KEY.match(attribute):
                self.add_error(
                    "trigger_attribute",
                    _("An attribute name is letters, digits and underscores, e.g. wedding_day."),
                )
            else:
                cleaned["trigger_attribute"] = attribute
        elif "trigger_attribute" in cleaned:
            cleaned["trigger_attribute"] = ""
        if "trigger_time" in cleaned and cleaned.get("trigger_time") is None:
            self.add_error(
                "trigger_time",
                _("Choose the time of day, on the contact's clock, to start the flow."),
            )

    def _check_reentry(self) -> None:
        cleaned = self.cleaned_data
        if cleaned.get("reentry") != Reentry.EVERY_N_DAYS:
            if "reentry_days" in cleaned:
                cleaned["reentry_days"] = None
            return
        days = cleaned.get("reentry_days")
        if "reentry_days" not in cleaned:
            return  # already refused (not a number)
        if days is None:
            self.add_error(
                "reentry_days",
                _("Say how many days (1 to %(max)s) before a contact may enter again.")
                % {"max": MAX_REENTRY_DAYS},
            )
        elif not 1 <= days <= MAX_REENTRY_DAYS:
            self.add_error(
                "reentry_days",
                _("Between 1 and %(max)s days.") % {"max": MAX_REENTRY_DAYS},
            )

    def _check_steps(self) -> None:
        if "steps" not in self.cleaned_data:
            return  # a step was refused: its own errors are shown on it
        steps = list(self.cleaned_data["steps"] or [])
        if not steps:
            self.add_error("steps", _("Add at least one step."))
            return
        if self.cleaned_data.get("status") == FlowStatus.ACTIVE and not sends_something(steps):
            self.add_error(
                "steps",
                ValidationError(
                    _(
                        "An active flow needs at least one step that sends an email or "
                        "notifies someone. Add one, or save the flow as a draft."
                    )
                ),
            )


flow_edit_handler = TabbedInterface(
    [
        ObjectList(
            [
                FieldPanel("name"),
                FieldPanel("description"),
                FieldPanel("status"),
                FieldPanel("trigger_type", widget=TriggerTypeSelect),
                MultiFieldPanel(
                    [
                        FieldPanel("trigger_event_type"),
                        FieldPanel("trigger_filters"),
                        FieldRowPanel(
                            [FieldPanel("trigger_count"), FieldPanel("trigger_window_hours")]
                        ),
                    ],
                    heading=gettext_lazy("When the trigger is an event"),
                    classname="oneonone-trigger oneonone-trigger--event",
                ),
                MultiFieldPanel(
                    [FieldPanel("trigger_segment")],
                    heading=gettext_lazy("When the trigger is entering a segment"),
                    classname="oneonone-trigger oneonone-trigger--segment_entered",
                ),
                MultiFieldPanel(
                    [
                        FieldPanel("trigger_date_field"),
                        FieldPanel("trigger_attribute", classname="oneonone-date-attribute"),
                        FieldRowPanel(
                            [FieldPanel("trigger_time"), FieldPanel("trigger_days_before")]
                        ),
                    ],
                    heading=gettext_lazy("When the trigger is a date"),
                    classname="oneonone-trigger oneonone-trigger--date",
                ),
                MultiFieldPanel(
                    [FieldPanel("trigger_engagement")],
                    heading=gettext_lazy("When the trigger is a change in engagement"),
                    classname="oneonone-trigger oneonone-trigger--engagement",
                ),
            ],
            heading=gettext_lazy("Trigger"),
        ),
        ObjectList(
            [
                FieldPanel("entry_segment"),
                FieldPanel("reentry"),
                FieldPanel("reentry_days", classname="oneonone-reentry-days"),
                MultiFieldPanel(
                    [
                        FieldPanel("goal_event_type"),
                        FieldPanel("goal_filters"),
                        FieldPanel("goal_left_segment"),
                    ],
                    heading=gettext_lazy("Goal"),
                    help_text=gettext_lazy(
                        "Optional. A contact who reaches the goal leaves the flow, and emails "
                        "still queued for them are not sent. With both, either one ends it."
                    ),
                ),
            ],
            heading=gettext_lazy("Who and when"),
        ),
        ObjectList(
            [
                FieldPanel("kind"),
                FieldPanel("topic"),
                FieldRowPanel([FieldPanel("from_email"), FieldPanel("reply_to")]),
                FieldPanel("layout"),
            ],
            heading=gettext_lazy("Email"),
        ),
        ObjectList([FieldPanel("steps")], heading=gettext_lazy("Steps")),
    ],
    base_form_class=FlowForm,
)


# Listing ---------------------------------------------------------------------------------


def status_label(flow: Flow) -> str:
    """Its status; a flow that paused itself (its trigger or goal failed) says so."""
    if flow.status == FlowStatus.PAUSED and flow.paused_reason:
        return str(gettext_lazy("Paused: needs fixing"))
    return str(flow.get_status_display())


class FlowIndexView(RegistryPolicyViewMixin, generic.IndexView):
    builtins_url_name: str | None = None

    def get_base_queryset(self) -> QuerySet[Flow]:
        queryset: QuerySet[Flow] = super().get_base_queryset()
        return listing_counts(queryset.select_related("trigger_segment"))

    def title_url(self, flow: Flow) -> str | None:
        return self.get_edit_url(flow) or self.get_inspect_url(flow)

    @cached_property
    def columns(self) -> list[Any]:
        title_column = self._get_title_column_class(TitleColumn)
        return [
            title_column(
                "name", label=gettext_lazy("Name"), sort_key="name", get_url=self.title_url
            ),
            StatusTagColumn(
                "status",
                accessor=status_label,
                label=gettext_lazy("Status"),
                sort_key="status",
                primary=lambda flow: flow.status == FlowStatus.ACTIVE,
            ),
            Column("trigger", label=gettext_lazy("Trigger"), accessor=trigger_in_words),
            Column("active_count", label=gettext_lazy("In the flow now"), sort_key="active_count"),
            Column("goal_count", label=gettext_lazy("Reached the goal"), sort_key="goal_count"),
            DateColumn("updated_at", label=gettext_lazy("Updated"), sort_key="updated_at"),
        ]

    @cached_property
    def header_buttons(self) -> list[Any]:
        buttons = list(super().header_buttons)
        if self.builtins_url_name and self.user_has_permission("add"):
            buttons.append(
                HeaderButton(
                    _("Built-in flows"),
                    url=reverse(self.builtins_url_name),
                    icon_name="download",
                )
            )
        return buttons

    def get_list_more_buttons(self, instance: Flow) -> list[Any]:
        buttons = list(super().get_list_more_buttons(instance))
        # The generic "Inspect" entry is the flow page: call it that.
        inspect_url = self.get_inspect_url(instance)
        buttons = [b for b in buttons if getattr(b, "url", None) != inspect_url]
        if inspect_url:
            buttons.append(
                more_button(_("Flow page"), url=inspect_url, icon_name="resubmit", priority=5)
            )
        return buttons


class FlowCreateView(RegistryPolicyViewMixin, generic.CreateView):
    pass


class FlowEditView(RegistryPolicyViewMixin, generic.EditView):
    @cached_property
    def header_more_buttons(self) -> list[Any]:
        # The generic "Inspect" entry is the flow page: call it that.
        inspect_url = self.get_inspect_url()
        buttons = [
            b for b in super().header_more_buttons if getattr(b, "url", None) != inspect_url
        ]
        if inspect_url:
            buttons.append(
                Button(_("Flow page"), url=inspect_url, icon_name="resubmit", priority=5)
            )
        return buttons


# The viewset -----------------------------------------------------------------------------


class FlowViewSet(RegisteredPolicyMixin, ModelViewSet):
    """Flows: the editor, the flow page (its inspect view), pause and resume, email steps'
    previews and test sends, built-ins."""

    model = Flow
    name = "oneonone_flow"
    icon = "resubmit"
    menu_label = gettext_lazy("Flows")
    menu_name = "oneonone-flows"
    # Its own model permissions (add/change/delete/view) through the registry's default policy.
    # In the reference index (flows are saved only when edited): an email layout's usage
    # lists the flows that use it, and its delete view refuses while they do.
    add_to_reference_index = True
    copy_view_enabled = False
    inspect_view_enabled = True
    index_view_class = FlowIndexView
    add_view_class = FlowCreateView
    edit_view_class = FlowEditView
    inspect_view_class = flow_views.FlowReportView
    edit_handler = flow_edit_handler
    ordering = "name"
    list_per_page = 50
    search_fields = ["name", "description"]
    search_backend_name = None  # plain database search: flows are not in the search index

    def get_common_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # No usage view: nothing refers to a flow through Wagtail's reference index.
        names = {
            "builtins_url_name": "builtins",
            "install_url_name": "install",
            "pause_url_name": "pause",
            "resume_url_name": "resume",
            "step_preview_url_name": "step_preview",
            "step_send_test_url_name": "step_send_test",
        }
        return super().get_common_view_kwargs(
            usage_url_name=None,
            messages_url_name="oneonone_message:index",
            **{key: self.get_url_name(value) for key, value in names.items()},
            **kwargs,
        )

    def get_permissions_to_register(self) -> QuerySet[Permission]:
        content_type = ContentType.objects.get_for_model(self.model)
        return Permission.objects.filter(content_type=content_type)

    def get_urlpatterns(self) -> list[URLPattern]:
        patterns = [
            pattern
            for pattern in super().get_urlpatterns()
            if pattern.name not in {"usage", "copy"}
        ]
        return [
            *patterns,
            path("pause/<int:pk>/", self.construct_view(flow_views.FlowPauseView), name="pause"),
            path(
                "resume/<int:pk>/", self.construct_view(flow_views.FlowResumeView), name="resume"
            ),
            path(
                "preview/<int:pk>/<str:step_id>/",
                self.construct_view(flow_views.FlowStepPreviewView),
                name="step_preview",
            ),
            path(
                "preview/<int:pk>/<str:step_id>/send-test/",
                self.construct_view(flow_views.FlowStepSendTestView),
                name="step_send_test",
            ),
            path("built-in/", self.construct_view(flow_views.BuiltinFlowsView), name="builtins"),
            path(
                "built-in/install/",
                self.construct_view(flow_views.InstallBuiltinView),
                name="install",
            ),
        ]
