"""Internal receivers, connected in ``AppConfig.ready()``."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out

from . import signals
from .conf import app_settings

logger = logging.getLogger(__name__)


def on_track_event(sender: Any, **kwargs: Any) -> None:
    from .api import track

    kwargs.pop("signal", None)
    event_type = kwargs.pop("event_type", None)
    track(event_type, **kwargs)


def on_identify_contact(sender: Any, **kwargs: Any) -> None:
    from .api import identify
    from .exceptions import OneOnOneError

    kwargs.pop("signal", None)
    email = kwargs.pop("email", None)
    fail_silently = kwargs.pop("fail_silently", False)
    try:
        identify(email, **kwargs)
    except OneOnOneError as exc:
        if not fail_silently:
            raise
        logger.warning("Dropped identify for a contact: %s", exc)


def on_user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A login identifies the browser: earlier anonymous events join the user's contact."""
    if request is None or not app_settings.MERGE_ON_LOGIN:
        return
    from .contacts.services import contact_for_user, merge_visitor
    from .visitors import get_visitor_id, remember_contact

    try:
        contact = contact_for_user(user)
        if contact is None:
            return
        merge_visitor(contact, get_visitor_id(request))
        remember_contact(request, contact.pk)
    except Exception:  # never break a login over analytics
        logger.exception("Could not merge the visitor into the contact of user %s", user.pk)


def on_user_logged_out(sender: Any, request: Any, **kwargs: Any) -> None:
    if request is not None:
        from .visitors import forget_contact

        forget_contact(request)


def on_messages_queued(sender: Any, **kwargs: Any) -> None:
    from .tasks import wake_dispatcher

    try:
        wake_dispatcher()
    except Exception:  # the every-minute schedule will pick the messages up anyway
        logger.exception("Could not wake the dispatcher")


def on_campaign_send_changed(sender: Any, campaign_id: int, status: str, **kwargs: Any) -> None:
    """A send that is due already (a "send now") starts queueing in a worker at once."""
    from django.utils import timezone

    from .campaigns.services import due_sends
    from .tasks import enqueue_campaign

    if status != "scheduled" or not due_sends(timezone.now()).filter(pk=campaign_id).exists():
        return
    try:
        enqueue_campaign(campaign_id)
    except Exception:  # the every-minute schedule starts it anyway
        logger.exception("Could not start queueing campaign %s", campaign_id)


def on_post_migrate(sender: Any, **kwargs: Any) -> None:
    """Install the dispatch schedule once our tables and django_q's exist."""
    if getattr(sender, "label", None) != "wagtail_oneonone":
        return
    from django.apps import apps

    if not apps.is_installed("django_q"):
        return
    from django.db import connections
    from django_q.models import Schedule

    # ``migrate wagtail_oneonone`` alone, before django_q's tables: its own migrate (or
    # the next full one) installs the schedules.
    using = kwargs.get("using") or "default"
    if Schedule._meta.db_table not in connections[using].introspection.table_names():
        return
    from .tasks import ensure_schedules

    ensure_schedules()


def connect() -> None:
    from django.db.models.signals import post_migrate

    signals.messages_queued.connect(on_messages_queued, dispatch_uid="oneonone_wake")
    signals.campaign_send_changed.connect(
        on_campaign_send_changed, dispatch_uid="oneonone_campaign_send"
    )
    post_migrate.connect(on_post_migrate, dispatch_uid="oneonone_schedules")
    signals.track_event.connect(on_track_event, dispatch_uid="oneonone_track_event")
    signals.identify_contact.connect(on_identify_contact, dispatch_uid="oneonone_identify")
    user_logged_in.connect(on_user_logged_in, dispatch_uid="oneonone_user_logged_in")
    user_logged_out.connect(on_user_logged_out, dispatch_uid="oneonone_user_logged_out")
