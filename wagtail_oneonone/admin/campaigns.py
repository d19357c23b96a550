"""Campaigns and email layouts in the admin: Wagtail snippets with the app's own pages.

Both are ``SnippetViewSet``s, so drafts, revisions, locking, workflow approval and the live
preview panel come from Wagtail. The campaign viewset adds four pages of its own
(``campaign_views``, ``campaign_schedule``): preview as a contact, send or schedule, the
campaign page (a report of its send) and cancelling; scheduling and cancelling need
``send_campaign``.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from django import forms
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin import messages
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import (
    FieldPanel,
    FieldRowPanel,
    MultiFieldPanel,
    ObjectList,
    TabbedInterface,
)
from wagtail.admin.ui.tables import Column, DateColumn, StatusTagColumn, TitleColumn
from wagtail.admin.utils import get_latest_str
from wagtail.admin.widgets.button import Button
from wagtail.snippets.views.snippets import EditView, IndexView, SnippetViewSet

from ..conf import app_settings
from ..models import Campaign, CampaignStatus, EmailLayout, SendMode
from ..rendering.validate import ERROR, validate_part
from . import campaign_schedule, campaign_views
from .compat import RegisteredPolicyMixin, RegistryPolicyViewMixin, more_button, policy_registry
from .permissions import user_can_view_contacts

#: Actions that let a user see a campaign's page and preview it (with contact access).
READ_ACTIONS = campaign_views.READ_ACTIONS
#: The custom action (``wagtail_oneonone.send_campaign``) that schedules and cancels sends.
SEND_ACTION = campaign_views.SEND_ACTION


def clean_address(value: str) -> str:
    """``jo@shop.example`` or ``Jo Maker <jo@shop.example>``; empty is allowed."""
    value = (value or "").strip()
    if value:
        _display, address = parseaddr(value)
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(
                _("Enter an address, optionally with a name: “Jo Maker <jo@shop.example>”.")
            ) from None
    return value


class AudienceCheckboxes(forms.CheckboxSelectMultiple):
    """Segments as checkboxes; a small script shows how many contacts they reach now."""

    class Media:
        js = ["wagtail_oneonone/js/campaign-audience.js"]


class CampaignForm(WagtailAdminModelForm):
    topic = forms.ChoiceField(
        label=gettext_lazy("Topic"),
        required=False,
        help_text=gettext_lazy("Contacts who opted out of this topic do not get it."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read when the form is built, so settings changed at run time are honoured.
        choices = [("", _("No topic"))]
        choices += [(str(key), str(label)) for key, label in dict(app_settings.TOPICS).items()]
        current = self.instance.topic if self.instance else ""
        if current and current not in dict(choices):
            choices.append((current, _("%(topic)s (not in TOPICS)") % {"topic": current}))
        self.fields["topic"].choices = choices
        for name in ("audience", "exclusions"):
            if name in self.fields:
                field = self.fields[name]
                field.queryset = field.queryset.order_by("name")
                field.widget.attrs["data-oneonone-audience-url"] = reverse(
                    "oneonone_campaign:audience_size"
                )

    def _clean_template_part(self, name: str, part: str) -> str:
        value: str = self.cleaned_data.get(name) or ""
        errors = [issue for issue in validate_part(part, value) if issue.severity == ERROR]
        if errors:
            raise ValidationError([str(issue.message) for issue in errors])
        return value

    def clean_subject(self) -> str:
        return self._clean_template_part("subject", "subject")

    def clean_preheader(self) -> str:
        return self._clean_template_part("preheader", "preheader")

    def clean_from_email(self) -> str:
        return clean_address(self.cleaned_data.get("from_email") or "")

    def clean_reply_to(self) -> str:
        return clean_address(self.cleaned_data.get("reply_to") or "")


campaign_edit_handler = TabbedInterface(
    [
        ObjectList(
            [
                FieldPanel("name"),
                FieldPanel("audience", widget=AudienceCheckboxes),
                FieldPanel("exclusions", widget=AudienceCheckboxes),
            ],
            heading=gettext_lazy("Audience"),
        ),
        ObjectList(
            [
                FieldPanel("subject"),
                FieldPanel("preheader"),
                FieldRowPanel([FieldPanel("from_email"), FieldPanel("reply_to")]),
                FieldPanel("topic"),
                FieldPanel("layout"),
            ],
            heading=gettext_lazy("Message"),
        ),
        ObjectList([FieldPanel("body")], heading=gettext_lazy("Content")),
    ],
    base_form_class=CampaignForm,
)

layout_edit_handler = TabbedInterface(
    [
        ObjectList(
            [
                FieldPanel("name"),
                FieldPanel("is_default"),
                FieldPanel("postal_address"),
                MultiFieldPanel(
                    [FieldPanel("logo"), FieldPanel("logo_width"), FieldPanel("link_url")],
                    heading=gettext_lazy("Logo"),
                ),
                FieldPanel("footer"),
                MultiFieldPanel(
                    [
                        FieldPanel("language"),
                        FieldPanel("unsubscribe_label"),
                        FieldPanel("preferences_label"),
                    ],
                    heading=gettext_lazy("Words"),
                ),
            ],
            heading=gettext_lazy("Layout"),
        ),
        ObjectList(
            [
                FieldPanel("font_family"),
                FieldRowPanel([FieldPanel("brand_colour"), FieldPanel("button_text_colour")]),
                FieldRowPanel([FieldPanel("background"), FieldPanel("content_background")]),
                FieldRowPanel([FieldPanel("text_colour"), FieldPanel("muted_colour")]),
                MultiFieldPanel(
                    [
                        FieldRowPanel(
                            [
                                FieldPanel("dark_background"),
                                FieldPanel("dark_content_background"),
                            ]
                        ),
                        FieldRowPanel(
                            [FieldPanel("dark_text_colour"), FieldPanel("dark_muted_colour")]
                        ),
                    ],
                    heading=gettext_lazy("Dark mode"),
                ),
            ],
            heading=gettext_lazy("Style"),
        ),
    ]
)


# Listing ----------------------------------------------------------------------------------


def status_label(campaign: Campaign) -> str:
    """Where its sending stands; an unscheduled campaign says whether it was published
    (approved, ready to schedule) or is still a draft."""
    status = campaign.send_status
    if status == CampaignStatus.DRAFT and campaign.live:
        return str(_("Ready to schedule"))
    return str(CampaignStatus(status).label)


def send_time(campaign: Campaign) -> str:
    """When it went (sent), goes (scheduled) or was stopped (cancelled), in words."""
    status = campaign.send_status
    if status == CampaignStatus.DRAFT:
        return ""
    if status == CampaignStatus.CANCELLED:
        return _("cancelled %(when)s") % {"when": _datetime(campaign.send_cancelled_at)}
    if status == CampaignStatus.SENT and campaign.send_finished_at:
        return _("sent %(when)s") % {"when": _datetime(campaign.send_finished_at)}
    if campaign.send_mode == SendMode.LOCAL and campaign.send_local_date:
        return _("%(date)s %(time)s in each contact's zone") % {
            "date": formats.date_format(campaign.send_local_date, "SHORT_DATE_FORMAT"),
            "time": formats.time_format(campaign.send_local_time, "TIME_FORMAT"),
        }
    return _datetime(campaign.send_send_at)


def audience_names(campaign: Campaign) -> str:
    names = ", ".join(segment.name for segment in campaign.audience.all())
    excluded = ", ".join(segment.name for segment in campaign.exclusions.all())
    if excluded:
        return _("%(names)s, but not %(excluded)s") % {"names": names, "excluded": excluded}
    return names


def _datetime(value: Any) -> str:
    if not value:
        return ""
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


class CampaignViewMixin:
    """URL names every campaign view is given, and the links they make from them."""

    request: Any
    report_url_name: str | None = None
    preview_as_url_name: str | None = None
    schedule_url_name: str | None = None
    cancel_url_name: str | None = None

    def campaign_urls(self, campaign: Campaign) -> dict[str, str]:
        """The app's pages for ``campaign`` this user may open."""
        user = self.request.user
        policy = policy_registry.get_by_type(Campaign)
        urls: dict[str, str] = {}
        can_read = policy.user_has_any_permission(user, READ_ACTIONS)
        if self.report_url_name and can_read:
            urls["report"] = reverse(self.report_url_name, args=(quote(campaign.pk),))
        if self.preview_as_url_name and can_read and user_can_view_contacts(user):
            urls["preview_as"] = reverse(self.preview_as_url_name, args=(quote(campaign.pk),))
        if self.schedule_url_name and policy.user_has_permission(user, SEND_ACTION):
            urls["schedule"] = reverse(self.schedule_url_name, args=(quote(campaign.pk),))
        return urls


class CampaignIndexView(RegistryPolicyViewMixin, CampaignViewMixin, IndexView):
    def get_base_queryset(self) -> QuerySet[Campaign]:
        queryset: QuerySet[Campaign] = super().get_base_queryset()
        return queryset.prefetch_related("audience", "exclusions").annotate(
            send_status=Coalesce(F("send__status"), Value(CampaignStatus.DRAFT.value)),
            send_mode=F("send__mode"),
            send_send_at=F("send__send_at"),
            send_local_date=F("send__local_date"),
            send_local_time=F("send__local_time"),
            send_finished_at=F("send__finished_at"),
            send_cancelled_at=F("send__cancelled_at"),
            send_time_sort=Coalesce(F("send__finished_at"), F("send__send_at")),
        )

    def title_url(self, campaign: Campaign) -> str | None:
        return self.get_edit_url(campaign) or self.campaign_urls(campaign).get("report")

    @cached_property
    def list_display(self) -> list[Any]:
        title_column = self._get_title_column_class(TitleColumn)
        return [
            title_column(
                "name",
                label=gettext_lazy("Name"),
                accessor=get_latest_str,
                sort_key="name",
                get_url=self.title_url,
                get_title_id=lambda campaign: f"snippet_{quote(campaign.pk)}_title",
            ),
            StatusTagColumn(
                "send_status",
                label=gettext_lazy("Status"),
                accessor=status_label,
                sort_key="send_status",
                primary=lambda campaign: (
                    campaign.send_status
                    in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.SENT)
                ),
            ),
            Column("audience", label=gettext_lazy("Audience"), accessor=audience_names),
            Column(
                "send_time",
                label=gettext_lazy("Scheduled / sent"),
                accessor=send_time,
                sort_key="send_time_sort",
            ),
            DateColumn("updated_at", label=gettext_lazy("Updated"), sort_key="updated_at"),
        ]

    def get_list_more_buttons(self, instance: Campaign) -> list[Any]:
        buttons = list(super().get_list_more_buttons(instance))
        urls = self.campaign_urls(instance)
        if "report" in urls:
            buttons.append(
                more_button(_("Campaign page"), url=urls["report"], icon_name="mail", priority=5)
            )
        if "preview_as" in urls:
            buttons.append(
                more_button(
                    _("Preview as a contact"),
                    url=urls["preview_as"],
                    icon_name="view",
                    priority=12,
                )
            )
        if "schedule" in urls and instance.send_status == CampaignStatus.DRAFT:
            buttons.append(
                more_button(
                    _("Send or schedule"), url=urls["schedule"], icon_name="date", priority=14
                )
            )
        return buttons


class CampaignEditView(RegistryPolicyViewMixin, CampaignViewMixin, EditView):
    @cached_property
    def header_more_buttons(self) -> list[Any]:
        buttons = list(super().header_more_buttons)
        urls = self.campaign_urls(self.object)
        if "report" in urls:
            buttons.append(
                Button(_("Campaign page"), url=urls["report"], icon_name="mail", priority=2)
            )
        if "preview_as" in urls:
            buttons.append(
                Button(
                    _("Preview as a contact"), url=urls["preview_as"], icon_name="view", priority=3
                )
            )
        if "schedule" in urls and self.object.status == CampaignStatus.DRAFT:
            buttons.append(
                Button(_("Send or schedule"), url=urls["schedule"], icon_name="date", priority=4)
            )
        return buttons


# Deleting ---------------------------------------------------------------------------------


def refuse_deletion(request: HttpRequest, instances: list[Any]) -> HttpResponse | None:
    """The ``before_delete_snippet`` hook: a scheduled campaign keeps its send (and the
    revision it sends), and a layout in use stays; the database would refuse both."""
    problems: list[str] = []
    campaign_ids = [item.pk for item in instances if isinstance(item, Campaign)]
    for name in Campaign.objects.filter(pk__in=campaign_ids, send__isnull=False).values_list(
        "name", flat=True
    ):
        problems.append(
            _(
                "“%(name)s” cannot be deleted: it has been scheduled, and its send keeps the "
                "approved revision and its report. Cancel it instead if it has not gone yet."
            )
            % {"name": name}
        )
    layouts = [item for item in instances if isinstance(item, EmailLayout)]
    for layout in layouts:
        users = list(Campaign.objects.filter(layout=layout).values_list("name", flat=True))
        if users:
            problems.append(
                _(
                    "The layout “%(name)s” cannot be deleted: campaigns use it (%(campaigns)s). "
                    "Choose another layout for them first."
                )
                % {"name": layout.name, "campaigns": ", ".join(f"“{n}”" for n in users)}
            )
    if not problems:
        return None
    for problem in problems:
        messages.error(request, problem)
    return redirect(instances[0].snippet_viewset.get_url_name("list"))


# Viewsets ---------------------------------------------------------------------------------


class EmailLayoutViewSet(RegisteredPolicyMixin, SnippetViewSet):
    """Email layouts: logo, colours and the footer every campaign is wrapped in."""

    model = EmailLayout
    name = "oneonone_email_layout"
    admin_url_namespace = "oneonone_email_layout"
    base_url_path = "oneonone_email_layout"
    icon = "doc-empty-inverse"
    menu_label = gettext_lazy("Email layouts")
    menu_name = "oneonone-email-layouts"
    menu_item_is_registered = True  # in the app's menu group, not under "Snippets"
    edit_handler = layout_edit_handler
    list_display = ["name", "is_default", "updated_at"]
    ordering = ["-is_default", "name"]
    search_fields = ["name"]
    search_backend_name = None  # plain database search: layouts are not in the search index


class CampaignViewSet(RegisteredPolicyMixin, SnippetViewSet):
    """Campaigns: content with drafts, revisions, locking and workflow, and its send."""

    model = Campaign
    name = "oneonone_campaign"
    admin_url_namespace = "oneonone_campaign"
    base_url_path = "oneonone_campaign"
    icon = "mail"
    menu_label = gettext_lazy("Campaigns")
    menu_name = "oneonone-campaigns"
    menu_item_is_registered = True  # in the app's menu group, not under "Snippets"
    index_view_class = CampaignIndexView
    edit_view_class = CampaignEditView
    edit_handler = campaign_edit_handler
    ordering = ["-updated_at"]
    list_per_page = 50
    search_fields = ["name", "subject"]
    search_backend_name = None  # plain database search: campaigns are not in the search index

    def get_common_view_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        names = {
            "report_url_name": "report",
            "progress_url_name": "progress",
            "preview_as_url_name": "preview_as",
            "send_test_url_name": "send_test",
            "schedule_url_name": "schedule",
            "cancel_url_name": "cancel",
        }
        return super().get_common_view_kwargs(
            **{key: self.get_url_name(value) for key, value in names.items()},
            messages_url_name="oneonone_message:index",
            **kwargs,
        )

    def get_permissions_to_register(self) -> QuerySet[Permission]:
        # All of them: "view" opens campaign pages without an inspect view, "send_campaign"
        # schedules and cancels, and publish/lock/unlock come from Wagtail's snippets.
        content_type = ContentType.objects.get_for_model(self.model)
        return Permission.objects.filter(content_type=content_type)

    def get_urlpatterns(self) -> list[URLPattern]:
        views = campaign_views
        return [
            *super().get_urlpatterns(),
            path("report/<int:pk>/", self.construct_view(views.CampaignReportView), name="report"),
            path(
                "report/<int:pk>/progress/",
                self.construct_view(views.CampaignProgressView),
                name="progress",
            ),
            path(
                "preview-as/<int:pk>/",
                self.construct_view(views.CampaignPreviewAsView),
                name="preview_as",
            ),
            path(
                "preview-as/<int:pk>/send-test/",
                self.construct_view(views.CampaignSendTestView),
                name="send_test",
            ),
            path(
                "schedule/<int:pk>/",
                self.construct_view(campaign_schedule.CampaignScheduleView),
                name="schedule",
            ),
            path(
                "cancel/<int:pk>/",
                self.construct_view(campaign_schedule.CampaignCancelView),
                name="cancel",
            ),
            path(
                "audience-size/",
                self.construct_view(views.AudienceSizeView),
                name="audience_size",
            ),
        ]
