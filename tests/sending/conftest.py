"""A real SMTP server (aiosmtpd) for the tests where SMTP is the point."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from wagtail_oneonone.contacts.services import set_consent
from wagtail_oneonone.models import Contact, EmailTemplate


@dataclass
class SmtpRecorder:
    """Records what arrives; ``refuse`` maps an address to an SMTP reply for RCPT TO."""

    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    fail_data: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_data:
            return self.fail_data.pop(0)
        self.envelopes.append(envelope)
        self.received.append(
            message_from_bytes(
                envelope.original_content or envelope.content, policy=policy.default
            )
        )
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SmtpRecorder]:
    from aiosmtpd.controller import Controller

    recorder = SmtpRecorder()
    port = _free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield recorder
    finally:
        controller.stop()


@pytest.fixture
def anymail_backend(settings: Any) -> Any:
    from django.core import mail

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
    mail.outbox = []
    return mail


@pytest.fixture
def sending_settings(settings: Any) -> Any:
    settings.DEFAULT_FROM_EMAIL = "Oak & Thread <shop@shop.example>"
    settings.WAGTAIL_ONEONONE = {
        "BASE_URL": "https://shop.example",
        "REPLY_TO": "Jo Maker <jo@shop.example>",
        "QUIET_HOURS": None,
        "MERGE_ON_LOGIN": False,
    }
    return settings


@pytest.fixture
def template(db: None) -> EmailTemplate:
    return EmailTemplate.objects.create(
        name="Hello",
        subject="Hi {{ contact.first_name|default('there', true) }}",
        preheader="Something for you",
        html_body=(
            "<html><body><p>Hello {{ contact.first_name|default('there', true) }}!</p>"
            '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
        ),
    )


def subscribed(email: str, **fields: Any) -> Contact:
    contact = Contact.objects.create(email=email, **fields)
    set_consent(contact, "subscribed", source="test")
    return contact
