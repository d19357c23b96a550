"""Wagtail hooks: page-view recording and the admin (permission policies, menu, viewsets)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.snippets.models import register_snippet

from .admin.compat import register_permission_policy
from .admin.log_actions import EXPORT_LOG_ACTION
from .admin.permissions import (
    ContactImportPermissionPolicy,
    ContactPermissionPolicy,
    OutboxMessagePermissionPolicy,
    SuppressionPermissionPolicy,
)
from .models import Contact, ContactImport, OutboxMessage, Suppression
from .pageviews import record_page_view, should_record

# Registered before any viewset asks the registry, so no fallback policy is created first.
register_permission_policy(Contact, ContactPermissionPolicy(Contact))
register_permission_policy(ContactImport, ContactImportPermissionPolicy(ContactImport))
register_permission_policy(Suppression, SuppressionPermissionPolicy(Suppression))
register_permission_policy(OutboxMessage, OutboxMessagePermissionPolicy(OutboxMessage))


# A positive order runs inside Wagtail's own view-restriction check, so visitors who only
# get a password or login form are not counted.
@hooks.register("on_serve_page", order=100)
def track_page_views(next_serve: Any) -> Any:
    def serve(page: Any, request: Any, args: Any, kwargs: Any) -> Any:
        response = next_serve(page, request, args, kwargs)
        if should_record(request, response):
            record_page_view(page, request)
        return response

    return serve


# Through register_snippet, not the register_admin_viewset hook: the group holds the
# Campaign and EmailLayout snippets, which must be known as snippets when hooks are loaded
# (post_migrate creates their publish/lock/unlock permissions from that list).
register_snippet("wagtail_oneonone.admin.viewsets.OneOnOneViewSetGroup")


@hooks.register("before_delete_snippet")
def refuse_deleting_what_a_send_needs(request: Any, instances: list[Any]) -> Any:
    from .admin.campaigns import refuse_deletion

    return refuse_deletion(request, instances)


@hooks.register("register_log_actions")
def register_oneonone_log_actions(actions: Any) -> None:
    from .admin.campaign_schedule import (
        CANCEL_LOG_ACTION,
        SCHEDULE_LOG_ACTION,
        ScheduleLogFormatter,
    )
    from .admin.flow_views import INSTALL_LOG_ACTION, PAUSE_LOG_ACTION, RESUME_LOG_ACTION
    from .admin.segments import EXPORT_LOG_ACTION as SEGMENT_EXPORT_LOG_ACTION

    actions.register_action(EXPORT_LOG_ACTION, _("Export data"), _("Contact data exported"))
    actions.register_action(
        SEGMENT_EXPORT_LOG_ACTION, _("Export members"), _("Segment members exported as CSV")
    )
    actions.register_action(SCHEDULE_LOG_ACTION)(ScheduleLogFormatter)
    actions.register_action(CANCEL_LOG_ACTION, _("Cancel campaign"), _("Campaign send cancelled"))
    actions.register_action(PAUSE_LOG_ACTION, _("Pause flow"), _("Flow paused"))
    actions.register_action(RESUME_LOG_ACTION, _("Resume flow"), _("Flow resumed"))
    actions.register_action(
        INSTALL_LOG_ACTION, _("Install built-in flow"), _("Built-in flow installed")
    )
