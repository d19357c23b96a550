"""Against a real SMTP server: what arrives, and what SMTP refusals do."""

from __future__ import annotations

from typing import Any

import pytest

from wagtail_oneonone.contacts.services import is_suppressed
from wagtail_oneonone.models import EmailTemplate, OutboxMessage, OutboxStatus
from wagtail_oneonone.sending import outbox
from wagtail_oneonone.sending.dispatch import dispatch_due

from .conftest import SmtpRecorder, subscribed

pytestmark = pytest.mark.django_db


def queue_for(email: str, template: EmailTemplate, **fields: Any) -> OutboxMessage:
    message, _ = outbox.queue_message(
        subscribed(email, **fields),
        source_type="template",
        source_id=template.pk,
        kind=template.kind,
    )
    return message


def test_what_arrives_is_a_proper_multipart_email(
    sending_settings: Any, smtp_server: SmtpRecorder, template: EmailTemplate
) -> None:
    template.subject = "Ça va, {{ contact.first_name }}? ✨"
    template.save()
    message = queue_for("zoe@example.com", template, first_name="Zoë", last_name="Ünal")
    assert dispatch_due().sent == 1
    [received] = smtp_server.received
    assert received.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in received.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert str(received["Subject"]) == "Ça va, Zoë? ✨"
    assert received["To"].addresses[0].display_name == "Zoë Ünal"
    assert received["To"].addresses[0].addr_spec == "zoe@example.com"
    assert received["Reply-To"].addresses[0].addr_spec == "jo@shop.example"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (
        received["List-Unsubscribe"].strip().startswith("<https://shop.example/email/unsubscribe/")
    )
    assert received["List-Id"]
    message.refresh_from_db()
    assert received["Message-ID"].strip() == message.message_id_header  # may be folded
    html = received.get_body(("html",)).get_content()
    assert "Hello Zoë" in html
    text = received.get_body(("plain",)).get_content()
    assert "Hello Zoë" in text
    assert smtp_server.envelopes[0].rcpt_tos == ["zoe@example.com"]


def test_a_refused_mailbox_fails_and_is_suppressed(
    sending_settings: Any, smtp_server: SmtpRecorder, template: EmailTemplate
) -> None:
    smtp_server.refuse["gone@example.com"] = "550 5.1.1 No such user"
    gone = queue_for("gone@example.com", template)
    fine = queue_for("fine@example.com", template)
    result = dispatch_due()
    assert (result.sent, result.failed) == (1, 1)
    gone.refresh_from_db()
    assert gone.status == OutboxStatus.FAILED and "550" in gone.last_error
    assert is_suppressed("gone@example.com")
    fine.refresh_from_db()
    assert fine.status == OutboxStatus.SENT


def test_a_temporary_refusal_is_retried_later_and_sent_once(
    sending_settings: Any, smtp_server: SmtpRecorder, template: EmailTemplate
) -> None:
    import datetime as dt

    smtp_server.fail_data.append("451 4.3.0 Try again later")
    message = queue_for("kit@example.com", template)
    assert dispatch_due().retried == 1
    message.refresh_from_db()
    assert message.status == OutboxStatus.QUEUED and "451" in message.last_error
    assert not is_suppressed("kit@example.com")
    later = message.scheduled_at + dt.timedelta(seconds=1)
    assert dispatch_due(clock=lambda: later).sent == 1
    assert len(smtp_server.received) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.SENT, 2)


def test_an_unreachable_server_loses_nothing(
    sending_settings: Any, template: EmailTemplate, settings: Any
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    message = queue_for("lou@example.com", template)
    result = dispatch_due()
    assert result.sent == 0
    message.refresh_from_db()
    assert message.status == OutboxStatus.QUEUED
    assert "Connection" in message.last_error or "refused" in message.last_error.lower()
