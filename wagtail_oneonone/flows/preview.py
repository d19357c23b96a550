"""One email step of a flow rendered for one contact, as the worker would send it, and a
test of it sent to a staff address.

The content is the flow source's own (:class:`~.content.FlowStepSource`: the step's body in
the flow's layout, through ``render_body``), and the context is built as the dispatcher
builds a flow message's (the message's trigger event and its context, ``{"enrollment":
...}``), with the preview's placeholder links (``rendering.preview_context``). The trigger
is the contact's latest event that would trigger the flow (of its type, passing its
filters); a flow not triggered by an event has none, as in a real send.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from ..exceptions import SegmentRuleError, TemplateRenderError
from ..models import (
    Contact,
    Enrollment,
    Event,
    Flow,
    MessageKind,
    OutboxMessage,
    TriggerType,
)
from ..rendering import RenderedEmail, preview_context, render_body
from ..segments.builtins import matching_events
from ..segments.compiler import compile_context
from ..sending.dispatch import ensure_unsubscribe_link
from ..sending.sources import get_source
from ..sending.test_sends import send_test_of
from .content import FLOW_SOURCE, step_source_id
from .spec import find_block


#: The links a preview shows instead of signed ones (as ``rendering.preview_context``).
class NotAnEmailStep(LookupError):
    """The step id names no email step of the flow."""


@dataclass(frozen=True)
class FlowStepPreview:
    """One contact's copy of an email step, the trigger it was rendered with, what to fix."""

    contact: Contact
    step_id: str
    #: The flow is triggered by an event, so a real send has one as ``trigger``.
    event_triggered: bool = False
    trigger: Event | None = None
    email: RenderedEmail | None = None
    choices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: TemplateRenderError | None = None


def email_step(flow: Flow, step_id: str) -> Any:
    """The stored block of the email step ``step_id``; raises :class:`NotAnEmailStep`."""
    block = find_block(flow.steps, step_id)
    if block is None:
        raise NotAnEmailStep(f"the flow “{flow}” has no step {step_id!r}")
    if block.block_type != "send_email":
        raise NotAnEmailStep(f"step {step_id!r} of the flow “{flow}” does not send an email")
    return block


def trigger_event_of(
    flow: Flow, contact: Contact, *, now: dt.datetime | None = None
) -> Event | None:
    """The contact's latest event that would trigger ``flow`` (its type, passing its filters);
    None for a flow not triggered by an event, or a contact who never did it."""
    if flow.trigger_type != TriggerType.EVENT or not flow.trigger_event_type or contact.pk is None:
        return None
    context = compile_context(now)
    try:
        events = matching_events(
            flow.trigger_event_type, context, filters=flow.trigger_filters or ()
        )
    except SegmentRuleError:
        # Filters the flow's form would refuse: the latest event of the type will do.
        events = matching_events(flow.trigger_event_type, context)
    return events.filter(contact_id=contact.pk).order_by("-occurred_at", "-id").first()


def message_context(flow: Flow, contact: Contact) -> dict[str, Any]:
    """A flow message's own context (``flows.services``): the contact's latest enrollment in
    the flow, else none."""
    enrollment = (
        Enrollment.objects.filter(flow=flow, contact_id=contact.pk)
        .order_by("-entered_at", "-pk")
        .first()
        if contact.pk is not None
        else None
    )
    if enrollment is None:
        return {"enrollment": None}
    return {"enrollment": enrollment.pk, **(enrollment.context or {})}


def render_flow_step(
    flow: Flow, step_id: str, contact: Contact, *, now: dt.datetime | None = None
) -> FlowStepPreview:
    """The email step ``step_id`` of ``flow`` (as saved) rendered for ``contact``.

    Raises :class:`NotAnEmailStep`; a template error is returned in ``error``.
    """
    email_step(flow, step_id)
    trigger = trigger_event_of(flow, contact, now=now)
    own_context = message_context(flow, contact)
    # The message the flow would queue, unsaved: the flow source reads its content from it.
    message = OutboxMessage(
        source_type=FLOW_SOURCE,
        source_id=step_source_id(flow.pk, step_id),
        kind=flow.kind,
        trigger_event=trigger,
        context=own_context,
    )
    result = FlowStepPreview(
        contact=contact,
        step_id=step_id,
        event_triggered=flow.trigger_type == TriggerType.EVENT,
        trigger=trigger,
    )
    try:
        content = get_source(FLOW_SOURCE).content(message)
        assert content.body is not None  # an email step is built from blocks
        # As a real send has it: no trigger for a contact without one (or a date flow).
        context = preview_context(
            contact, trigger_event=trigger, latest_as_trigger=False, extra=own_context, now=now
        )
        rendered = render_body(content.body, context, contact_id=contact.pk, now=now)
    except TemplateRenderError as exc:
        return replace(result, error=exc)
    email = rendered.email
    if message.kind == MessageKind.MARKETING:
        email = ensure_unsubscribe_link(email, context["unsubscribe_url"])
    return replace(
        result,
        email=email,
        choices=rendered.describe_choices(),
        warnings=[*content.body.warnings, *rendered.warnings],
    )


def send_step_test(
    flow: Flow,
    step_id: str,
    *,
    as_contact: Contact,
    to_email: str,
    requested_by: Any = None,
    now: dt.datetime | None = None,
) -> OutboxMessage:
    """Queue a test of the email step rendered for ``as_contact``, delivered to ``to_email``.

    As ``sending.test_sends.send_test_of`` (``[Test]`` subject, through the outbox, the
    contact's consent and caps not involved, links that do nothing), with the trigger
    event and the message context a real send of the step would have.
    """
    email_step(flow, step_id)
    return send_test_of(
        FLOW_SOURCE,
        step_source_id(flow.pk, step_id),
        as_contact=as_contact,
        to_email=to_email,
        requested_by=requested_by,
        trigger_event=trigger_event_of(flow, as_contact, now=now),
        context=message_context(flow, as_contact),
    )
