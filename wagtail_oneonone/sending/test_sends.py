"""Test sends: a template rendered as one contact and delivered to a staff member."""

from __future__ import annotations

import uuid
from typing import Any

from ..models import Contact, EmailTemplate, MessageKind, OutboxMessage
from ..validation import normalize_email
from .outbox import queue_message
from .sources import TEST_SOURCE


def send_test(
    template: EmailTemplate, *, as_contact: Contact, to_email: str, requested_by: Any = None
) -> OutboxMessage:
    """Queue a test of ``template`` rendered for ``as_contact``, delivered to ``to_email``.

    It goes through the outbox like any email (so it shows in the sent messages), but the
    contact's consent and caps do not apply, and its unsubscribe links do nothing.
    """
    return send_test_of(
        "template",
        str(template.pk),
        as_contact=as_contact,
        to_email=to_email,
        requested_by=requested_by,
    )


def send_test_of(
    source_type: str,
    source_id: str,
    *,
    as_contact: Contact,
    to_email: str,
    requested_by: Any = None,
    trigger_event: Any = None,
    context: dict[str, Any] | None = None,
) -> OutboxMessage:
    """Queue a test of any source's content (a campaign draft: ``campaign_revision``),
    with the trigger event and message context a real send would have, if any."""
    deliver_to = normalize_email(to_email, "to_email")
    message, _ = queue_message(
        as_contact,
        source_type=TEST_SOURCE,
        source_id=source_id,
        kind=MessageKind.TRANSACTIONAL,
        occurrence=uuid.uuid4().hex,
        trigger_event=trigger_event,
        context={
            **(context or {}),
            "deliver_to": deliver_to,
            "requested_by": getattr(requested_by, "pk", None),
            "test_of": source_type,
        },
    )
    return message
