"""What a flow's steps send: its email steps to the contact, its notifications to staff.

Outbox rows of an email step have ``source_type="flow"`` and ``source_id``
``"<flow id>:<step id>"`` (each step's content is its own); the enrollment is in the row's
context. At send time :meth:`FlowStepSource.stop_reasons` checks the goal again, so a
purchase between queueing and sending cancels a reminder.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from ..campaigns.content import body_cache, layout_by_id, layout_spec
from ..models import Enrollment, EnrollmentStatus, Flow, MessageKind, OutboxMessage
from ..rendering import EmailBody, TemplateSource, body_template
from ..rendering.tags import literal, template_from_text
from ..sending.sources import SourceContent, SourceGone, register_source
from .broken import pause_broken_flow
from .goals import goals_reached
from .spec import find_block

FLOW_SOURCE = "flow"
NOTIFY_SOURCE = "flow_notify"
GOAL_REACHED = "the contact reached the flow's goal"


def step_source_id(flow_id: int, step_id: str) -> str:
    return f"{flow_id}:{step_id}"


def _flow_and_step(message: OutboxMessage) -> tuple[Flow, Any]:
    flow_id, _, step_id = message.source_id.partition(":")
    flow = Flow.objects.filter(pk=int(flow_id) if flow_id.isdigit() else 0).first()
    if flow is None:
        raise SourceGone(f"flow {flow_id} was deleted")
    block = find_block(flow.steps, step_id)
    if block is None:
        raise SourceGone("the step was removed from the flow")
    return flow, block


def step_body(flow: Flow, block: Any) -> EmailBody:
    """An email step's body in the flow's layout, built once per flow and layout revision."""
    layout = layout_by_id(flow.layout_id)
    key = (
        "flow",
        flow.pk,
        str(block.id),
        flow.revision,
        getattr(layout, "pk", None),
        getattr(layout, "revision", 0),
    )
    body = body_cache.get(key)
    if body is None:
        body = body_template(
            block.value["body"],
            layout_spec(layout),
            key=f"flow:{flow.pk}:{block.id}",
            revision=".".join(str(part) for part in key[3:]),
            subject=block.value["subject"],
            preheader=block.value.get("preheader") or "",
        )
        body_cache.put(key, body)
    return body


class FlowStepSource:
    def content(self, message: OutboxMessage) -> SourceContent:
        flow, block = _flow_and_step(message)
        if block.block_type != "send_email":
            raise SourceGone("the step no longer sends an email")
        body = step_body(flow, block)
        return SourceContent(
            template=body.source,
            body=body,
            kind=flow.kind,
            topic=flow.topic,
            from_email=flow.from_email,
            reply_to=flow.reply_to,
            capped=block.value.get("frequency_capped", True),
        )

    def stop_reasons(self, messages: list[OutboxMessage]) -> dict[int, str]:
        """Messages whose enrollment ended, or whose goal happened since it was queued."""
        ids = {_enrollment_id(message) for message in messages} - {None}
        enrollments = {
            enrollment.pk: enrollment
            for enrollment in Enrollment.objects.filter(pk__in=ids).select_related("flow")
        }
        # A completed enrollment's last email is still on its way: its goal counts too.
        going = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)
        broken: dict[int, Exception] = {}
        now = timezone.now()
        reached = goals_reached(
            [e for e in enrollments.values() if e.status in going], now=now, broken=broken
        )
        for flow_id, error in broken.items():
            flow = next(e.flow for e in enrollments.values() if e.flow_id == flow_id)
            pause_broken_flow(flow, error, now=now, part="goal")
        reasons: dict[int, str] = {}
        for message in messages:
            enrollment = enrollments.get(_enrollment_id(message) or 0)
            if enrollment is None:
                reasons[message.pk] = "the contact's enrollment in the flow no longer exists"
            elif enrollment.flow_id in broken:
                reasons[message.pk] = (
                    "the flow's goal could not be evaluated, so the flow is paused: "
                    f"{broken[enrollment.flow_id]}"
                )
            elif enrollment.status == EnrollmentStatus.GOAL or enrollment.pk in reached:
                reasons[message.pk] = GOAL_REACHED
            elif enrollment.status == EnrollmentStatus.EXITED:
                reasons[message.pk] = f"the contact left the flow: {enrollment.exit_reason}"
        return reasons


class FlowNotifySource:
    """A staff notification: the step's message about the contact, to ``deliver_to``."""

    def content(self, message: OutboxMessage) -> SourceContent:
        flow, block = _flow_and_step(message)
        if block.block_type != "notify":
            raise SourceGone("the step no longer notifies anyone")
        lines = [template_from_text(line) for line in block.value["message"].splitlines()]
        html = (
            f"<p>{'<br>'.join(lines)}</p>"
            "<p>{{ contact.full_name|default(contact.email, true) }} &lt;{{ contact.email }}&gt;"
            f" — from the flow “{literal(flow.name)}”.</p>"
            '{% if contact_admin_url %}<p><a href="{{ contact_admin_url }}">'
            "Their timeline</a></p>{% endif %}"
        )
        return SourceContent(
            template=TemplateSource(
                key=f"flow-notify:{flow.pk}:{block.id}",
                revision=flow.revision,
                subject="Follow up: {{ contact.full_name|default(contact.email, true) }}",
                preheader="",
                html=html,
                text="",
            ),
            kind=MessageKind.TRANSACTIONAL,
        )


def _enrollment_id(message: OutboxMessage) -> int | None:
    value = (message.context or {}).get("enrollment")
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def register_flow_sources() -> None:
    register_source(FLOW_SOURCE, FlowStepSource())
    register_source(NOTIFY_SOURCE, FlowNotifySource(), to_staff=True)
