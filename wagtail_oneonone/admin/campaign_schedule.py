"""Sending a campaign: the send-or-schedule page (a form, a confirmation, then
``schedule_campaign``) and cancelling a send. Both need ``wagtail_oneonone.send_campaign``.

Times are entered on the site's clocks (``DEFAULT_TIME_ZONE``, else ``TIME_ZONE``), whatever
the admin user's own zone, and the page says which zone that is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView
from wagtail.admin import messages
from wagtail.log_actions import LogFormatter, log

from ..campaigns.schedule import MAX_SPREAD_HOURS, Schedule, local_instant, zone_named
from ..campaigns.services import (
    CampaignNotReady,
    audience_of,
    cancel_campaign,
    check_ready,
    progress_of,
    schedule_campaign,
    schedule_of,
    sent_revision_of,
)
from ..conf import app_settings
from ..exceptions import SegmentRuleError
from ..models import CampaignSend, OutboxStatus, SendMode
from . import campaign_report as report
from .campaign_views import ACTIVE, SEND_ACTION, CampaignPageMixin

SCHEDULE_LOG_ACTION = "wagtail_oneonone.schedule_campaign"
CANCEL_LOG_ACTION = "wagtail_oneonone.cancel_campaign"
#: A local-time send whose first copies are due within this long warns about late copies.
SOON = dt.timedelta(hours=24)


class ZonedDateTimeField(forms.DateTimeField):
    """A date and time on the wall clocks of one zone (the site's), whatever the user's."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, *, zone: ZoneInfo, **kwargs: Any) -> None:
        self.zone = zone
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dt.datetime | None:
        with timezone.override(self.zone):
            return super().to_python(value)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dt.datetime) and timezone.is_aware(value):
            return value.astimezone(self.zone).replace(tzinfo=None)
        return value


class ScheduleForm(forms.Form):
    mode = forms.ChoiceField(
        label=gettext_lazy("When"),
        choices=SendMode.choices,
        initial=SendMode.NOW,
        widget=forms.RadioSelect,
    )
    local_date = forms.DateField(
        label=gettext_lazy("Date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    local_time = forms.TimeField(
        label=gettext_lazy("Time"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    spread_hours = forms.IntegerField(
        label=gettext_lazy("Over how many hours"),
        required=False,
        min_value=1,
        max_value=MAX_SPREAD_HOURS,
        help_text=gettext_lazy("From 1 to %(max)s.") % {"max": MAX_SPREAD_HOURS},
    )

    def __init__(self, *args: Any, zone: ZoneInfo, now: dt.datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone, self.now = zone, now
        self.fields["send_at"] = ZonedDateTimeField(zone=zone, label=_("Send at"), required=False)
        self.fields["spread_start"] = ZonedDateTimeField(
            zone=zone,
            label=_("Starting at"),
            required=False,
            help_text=_("Leave empty to start now."),
        )
        self.schedule: Schedule | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        mode = cleaned.get("mode")
        zone_name = str(self.zone.key)
        if mode == SendMode.NOW:
            self.schedule = Schedule(mode=mode, send_at=self.now, default_zone=zone_name)
        elif mode == SendMode.AT:
            send_at = cleaned.get("send_at")
            if send_at is None:
                self.add_error("send_at", _("Enter the date and time to send at."))
            elif send_at <= self.now:
                self.add_error(
                    "send_at", _("That time has passed: choose a later one, or send now.")
                )
            else:
                self.schedule = Schedule(mode=mode, send_at=send_at, default_zone=zone_name)
        elif mode == SendMode.LOCAL:
            self.schedule = self._local_schedule(cleaned, zone_name)
        elif mode == SendMode.SPREAD:
            start = cleaned.get("spread_start") or self.now
            hours = cleaned.get("spread_hours")
            if not hours:
                if "spread_hours" not in self.errors:
                    self.add_error("spread_hours", _("Enter how many hours to spread over."))
            elif cleaned.get("spread_start") and start <= self.now:
                self.add_error(
                    "spread_start", _("That time has passed: leave it empty to start now.")
                )
            else:
                self.schedule = Schedule(
                    mode=mode, send_at=start, spread_hours=hours, default_zone=zone_name
                )
        return cleaned

    def _local_schedule(self, cleaned: dict[str, Any], zone_name: str) -> Schedule | None:
        day, time = cleaned.get("local_date"), cleaned.get("local_time")
        if day is None and "local_date" not in self.errors:
            self.add_error("local_date", _("Enter the date."))
        if time is None and "local_time" not in self.errors:
            self.add_error("local_time", _("Enter the time on each contact's clock."))
        if day is None or time is None:
            return None
        # The moment the site's own clocks show it: what the send's time means in listings.
        schedule = Schedule(
            mode=SendMode.LOCAL,
            send_at=local_instant(day, time, self.zone),
            local_date=day,
            local_time=time,
            default_zone=zone_name,
        )
        if schedule.last_send <= self.now:
            self.add_error(
                "local_date", _("That time has passed in every time zone: choose a later one.")
            )
            return None
        return schedule


def late_local_copies(schedule: Schedule, audience: Any, now: dt.datetime) -> int:
    """How many contacts' local send time has already passed (they get it at once)."""
    late = 0
    zones = audience.order_by().values_list("time_zone").annotate(count=Count("pk"))
    for zone_name, count in zones:
        if schedule.send_time(zone_name) <= now:
            late += count
    return late


class CampaignScheduleView(CampaignPageMixin, TemplateView):
    """GET: what stops the send, the audience and the form; POST: confirm, then schedule."""

    template_name = "wagtail_oneonone/admin/campaign_schedule.html"
    page_title = gettext_lazy("Send or schedule")
    permission_required = SEND_ACTION
    any_permission_required = None

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        self.now = timezone.now()
        self.zone = report.site_zone()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_page(ScheduleForm(zone=self.zone, now=self.now))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = ScheduleForm(request.POST, zone=self.zone, now=self.now)
        problems = check_ready(self.object, now=self.now)
        if problems or not form.is_valid() or form.schedule is None:
            return self.render_page(form, problems=problems)
        if "change" in request.POST:
            return self.render_page(form)  # back from the confirmation, the values kept
        if request.POST.get("confirm") != "yes":
            return self.render_page(form, confirming=True)
        try:
            send = schedule_campaign(self.object, form.schedule, user=request.user, now=self.now)
        except CampaignNotReady as exc:
            for problem in exc.problems:
                form.add_error(None, problem)
            return self.render_page(form)
        log(
            instance=self.object,
            action=SCHEDULE_LOG_ACTION,
            user=request.user,
            data=schedule_log_data(send),
        )
        messages.success(
            request,
            _("“%(name)s” is scheduled: %(when)s.")
            % {"name": self.object.name, "when": describe_send(send)},
        )
        return redirect(self.url(self.report_url_name))

    def render_page(
        self, form: ScheduleForm, *, problems: list[str] | None = None, confirming: bool = False
    ) -> HttpResponse:
        if problems is None:
            problems = check_ready(self.object, now=self.now)
        audience_size, audience_error, late = None, "", 0
        try:
            audience = audience_of(sent_revision_of(self.object), now=self.now)
            audience_size = audience.count()
            schedule = form.schedule if form.is_bound else None
            if (
                schedule is not None
                and schedule.mode == SendMode.LOCAL
                and schedule.first_send <= self.now + SOON
            ):
                late = late_local_copies(schedule, audience, self.now)
        except (SegmentRuleError, DatabaseError) as exc:
            audience_error = str(getattr(exc, "message", exc))
        context = self.get_context_data(
            form=form,
            problems=problems,
            confirming=confirming and not problems,
            audience_size=audience_size,
            audience_error=audience_error,
            late_copies=late,
            zone_name=self.zone.key,
            now_in_zone=report.in_site_zone(self.now),
            summary=describe_schedule(form.schedule) if form.schedule else "",
            already_scheduled=CampaignSend.objects.filter(pk=self.object.pk).exists(),
            report_url=self.url(self.report_url_name),
            edit_url=self.url(self.edit_url_name) if self.user_has_permission("change") else "",
            modes=SendMode,
        )
        return self.render_to_response(context)


def describe_schedule(schedule: Schedule) -> str:
    """A schedule in one sentence, times in the site's zone."""
    zone = report.site_zone()
    if schedule.mode == SendMode.NOW:
        return _("now")
    if schedule.mode == SendMode.AT:
        return _("at %(when)s (%(zone)s)") % {
            "when": report.in_site_zone(schedule.send_at),
            "zone": zone.key,
        }
    if schedule.mode == SendMode.LOCAL:
        assert schedule.local_date is not None and schedule.local_time is not None
        return _("on %(date)s at %(time)s in each contact's own time zone") % {
            "date": formats.date_format(schedule.local_date, "DATE_FORMAT"),
            "time": formats.time_format(schedule.local_time, "TIME_FORMAT"),
        }
    return _("spread over %(hours)s hours from %(when)s (%(zone)s)") % {
        "hours": schedule.spread_hours,
        "when": report.in_site_zone(schedule.send_at),
        "zone": zone.key,
    }


def describe_send(send: CampaignSend) -> str:
    return describe_schedule(schedule_of(send))


def schedule_log_data(send: CampaignSend) -> dict[str, Any]:
    return {
        "mode": send.mode,
        "send_at": send.send_at.isoformat(),
        "local_date": send.local_date.isoformat() if send.local_date else None,
        "local_time": send.local_time.strftime("%H:%M") if send.local_time else None,
        "spread_hours": send.spread_hours,
        "zone": app_settings.default_time_zone,
    }


class ScheduleLogFormatter(LogFormatter):
    label = gettext_lazy("Schedule campaign")

    def format_message(self, log_entry: Any) -> str:
        data = log_entry.data or {}
        mode = str(SendMode(data["mode"]).label) if data.get("mode") in SendMode.values else ""
        if data.get("mode") == SendMode.LOCAL:
            when = _("%(date)s %(time)s in each contact's zone") % {
                "date": data.get("local_date"),
                "time": data.get("local_time"),
            }
        elif data.get("send_at") and data.get("mode") != SendMode.NOW:
            # Shown on the site's clocks as they were when it was scheduled.
            zone = zone_named(data.get("zone"), "UTC")
            moment = dt.datetime.fromisoformat(data["send_at"]).astimezone(zone)
            when = f"{moment:%Y-%m-%d %H:%M} ({zone.key})"
        else:
            when = ""
        return (_("Campaign scheduled: %(mode)s %(when)s") % {"mode": mode, "when": when}).strip()


# Cancelling ------------------------------------------------------------------------------


class CampaignCancelView(CampaignPageMixin, TemplateView):
    """GET: are you sure?; POST: stop the send (what has gone, has gone)."""

    template_name = "wagtail_oneonone/admin/campaign_cancel.html"
    page_title = gettext_lazy("Cancel the send")
    permission_required = SEND_ACTION
    any_permission_required = None

    def send(self) -> CampaignSend | None:
        return CampaignSend.objects.filter(pk=self.object.pk, status__in=ACTIVE).first()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        send = self.send()
        if send is None:
            messages.error(request, _("Only a scheduled or sending campaign can be cancelled."))
            return redirect(self.url(self.report_url_name))
        progress = progress_of(send)
        return self.render_to_response(
            self.get_context_data(
                send=send,
                waiting=progress.counts.get(OutboxStatus.QUEUED, 0),
                sent=progress.counts.get(OutboxStatus.SENT, 0),
                report_url=self.url(self.report_url_name),
                when=describe_send(send),
            )
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.send() is None:
            messages.error(request, _("Only a scheduled or sending campaign can be cancelled."))
            return redirect(self.url(self.report_url_name))
        stopped = cancel_campaign(self.object, user=request.user)
        log(
            instance=self.object,
            action=CANCEL_LOG_ACTION,
            user=request.user,
            data={"stopped": stopped},
        )
        messages.success(
            request,
            _("“%(name)s” is cancelled: %(stopped)s queued messages will not be sent.")
            % {"name": self.object.name, "stopped": stopped},
        )
        return redirect(self.url(self.report_url_name))
