"""A flow whose trigger or goal no longer evaluates pauses itself, saying why."""

from __future__ import annotations

import datetime as dt
import logging

from django.utils.translation import gettext as _

from ..models import Flow, FlowStatus

logger = logging.getLogger(__name__)


def pause_broken_flow(
    flow: Flow, error: BaseException, *, now: dt.datetime, part: str = "trigger"
) -> bool:
    """Pause a flow whose trigger, goal or steps (``part``) cannot be evaluated (a filter
    that no longer makes sense, a segment whose rules fail, a wait in an unknown unit),
    saying why on its page, rather than fail every run and hold up every other flow.
    False if it was not active."""
    logger.error("Flow %s (%s) paused: its %s failed", flow.pk, flow.name, part, exc_info=error)
    parts = {"trigger": _("its trigger"), "goal": _("its goal"), "steps": _("its steps")}
    reason = _("Paused by itself on %(when)s: %(part)s could not be evaluated (%(error)s).") % {
        "when": now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "part": parts.get(part, part),
        "error": f"{type(error).__name__}: {error}"[:500],
    }
    return bool(
        Flow.objects.filter(pk=flow.pk, status=FlowStatus.ACTIVE).update(
            status=FlowStatus.PAUSED, paused_reason=reason
        )
    )
