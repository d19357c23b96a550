"""Turning a rendered email into the message handed to Django's email backend."""

from __future__ import annotations

from email.utils import formataddr, make_msgid, parseaddr
from typing import Any
from urllib.parse import urlsplit

from anymail.message import AnymailMessage
from django.conf import settings

from ..conf import app_settings
from ..models import Contact, MessageKind, OutboxMessage
from ..rendering.render import RenderedEmail
from ..tracking.links import list_unsubscribe_headers, site_base_url
from .sources import TEST_SOURCE, SourceContent, delivers_to_staff


def site_domain() -> str:
    return urlsplit(site_base_url()).hostname or "localhost"


def list_id() -> str:
    configured = app_settings.LIST_ID
    if configured:
        return str(configured)
    domain = site_domain()
    name = getattr(settings, "WAGTAIL_SITE_NAME", "") or domain
    return f"{name} <oneonone.{domain}>"


def recipient(contact: Contact) -> str:
    """``"Ann Lee <ann@example.com>"``; non-ASCII names are encoded when the email is built."""
    return formataddr((contact.full_name, contact.email)) if contact.full_name else contact.email


def build_email(
    message: OutboxMessage,
    contact: Contact,
    content: SourceContent,
    rendered: RenderedEmail,
    *,
    unsubscribe_url: str | None = None,
) -> AnymailMessage:
    """The email for one outbox row: headers, both parts, and our ids in metadata and tags."""
    from_email = content.from_email or app_settings.FROM_EMAIL or settings.DEFAULT_FROM_EMAIL
    reply_to = content.reply_to or app_settings.REPLY_TO
    headers: dict[str, Any] = {
        "Message-ID": make_msgid(idstring=f"oneonone.{message.pk}", domain=site_domain()),
        "X-OneOnOne-Message": str(message.pk),
    }
    if message.kind == MessageKind.MARKETING:
        headers.update(list_unsubscribe_headers(contact.pk, message.pk, url=unsubscribe_url))
        headers["List-Id"] = list_id()
        headers["Precedence"] = "bulk"
    to = recipient(contact)
    if delivers_to_staff(message):
        to = str((message.context or {}).get("deliver_to") or "")
        if message.source_type == TEST_SOURCE:
            headers["X-OneOnOne-Test"] = f"rendered for contact {contact.pk}"
        else:
            headers["X-OneOnOne-About-Contact"] = str(contact.pk)
    email = AnymailMessage(
        subject=rendered.subject,
        body=rendered.text,
        from_email=from_email,
        to=[to],
        reply_to=[reply_to] if reply_to else None,
        headers=headers,
        metadata={"outbox_id": str(message.pk), "contact_id": str(contact.pk)},
        tags=[f"oneonone-{message.source_type}"],
    )
    email.attach_alternative(rendered.html, "text/html")
    return email


def address_of(value: str) -> str:
    return parseaddr(value)[1]
