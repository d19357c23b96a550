"""The dispatcher: claim due messages in batches and send each batch over one connection."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from html import escape
from typing import Any

from django.core.mail import get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ..conf import app_settings
from ..contacts.services import suppress
from ..exceptions import TemplateRenderError
from ..models import MessageKind, OutboxMessage, SentContent
from ..rendering.context import build_context
from ..rendering.render import RenderedEmail, render_email
from ..tracking.links import preferences_url, site_base_url, unsubscribe_url
from . import outbox
from .decision import DEFER, SKIP, decide
from .failures import classify_failure
from .messages import build_email
from .sources import SourceGone, get_source
from .throttle import Pacer, kill_switch_reason, pacer

logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    failed: int = 0
    retried: int = 0
    lost_claims: int = 0
    requeued: int = 0
    unknown: int = 0
    paused: str = ""
    errors: list[str] = field(default_factory=list)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def dispatch_due(
    *,
    clock: Clock = timezone.now,
    worker: str | None = None,
    max_seconds: float = 50.0,
    connection: Any = None,
) -> DispatchResult:
    """Sweep dead leases, then claim and send due messages until none are left or time is up."""
    result = DispatchResult()
    worker = worker or worker_name()
    result.requeued, result.unknown = outbox.sweep_expired_leases(clock())
    result.paused = kill_switch_reason(clock()) or ""
    if result.paused:
        logger.warning("%s", result.paused)
    kinds = [MessageKind.TRANSACTIONAL] if result.paused else None
    pace = pacer()
    size = pace.batch_size(int(app_settings.SEND_BATCH_SIZE), 0.8 * app_settings.LEASE_SECONDS)
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        ids = outbox.claim_due_messages(clock(), limit=size, worker=worker, kinds=kinds)
        if not ids:
            break
        result.claimed += len(ids)
        send_batch(ids, clock=clock, pace=pace, result=result, connection=connection)
    return result


def send_batch(
    ids: Sequence[int],
    *,
    clock: Clock = timezone.now,
    pace: Pacer | None = None,
    result: DispatchResult | None = None,
    connection: Any = None,
) -> DispatchResult:
    """Send claimed messages over one backend connection; each gets its own outcome."""
    result = result or DispatchResult()
    pace = pace or pacer()
    messages = (
        OutboxMessage.objects.filter(pk__in=ids)
        .select_related("contact", "trigger_event")
        .order_by("scheduled_at", "id")
    )
    link = _Link(connection or get_connection(fail_silently=False))
    pending = list(messages)
    contents: dict[tuple[str, str], Any] = {}
    try:
        while pending:
            message = pending.pop(0)
            outcome = _send_one(
                message, link, clock=clock, pace=pace, result=result, contents=contents
            )
            if outcome == _UNREACHABLE:
                # No connection at all: the rest of the batch waits for the next run.
                for waiting in pending:
                    outbox.mark_for_retry(
                        waiting, "the email backend was unreachable", now=clock()
                    )
                result.retried += len(pending)
                break
            if outcome == _RESET:
                link.close()  # the connection may be broken: the next message opens anew
    finally:
        link.close()
    return result


_SENT_OR_DONE, _RESET, _UNREACHABLE = "done", "reset", "unreachable"


class _Link:
    """One backend connection, opened on first use and shared by a batch."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.is_open = False

    def open(self) -> None:
        if not self.is_open:
            self.backend.open()
            self.is_open = True

    def close(self) -> None:
        if not self.is_open:
            return
        self.is_open = False
        try:
            self.backend.close()
        except Exception:  # closing a dead connection must not hide the real outcome
            logger.debug("Closing the email connection failed", exc_info=True)


def _links(message: OutboxMessage) -> dict[str, str]:
    """The message's signed links, made once: the body and the headers share them."""
    if message.source_type == "test":
        # A tester clicking these must not unsubscribe the real contact.
        return {
            "unsubscribe_url": test_link("unsubscribe"),
            "preferences_url": test_link("preferences"),
        }
    return {
        "unsubscribe_url": unsubscribe_url(message.contact_id, message.pk),
        "preferences_url": preferences_url(message.contact_id, message.pk),
    }


def _render(message: OutboxMessage, content: Any, links: dict[str, str]) -> RenderedEmail:
    contact = message.contact
    extra = {**(message.context or {}), **links}
    context = build_context(contact, trigger_event=message.trigger_event, extra=extra)
    rendered = render_email(content.template, context)
    if message.kind == MessageKind.MARKETING:
        rendered = ensure_unsubscribe_link(rendered, extra["unsubscribe_url"])
    return rendered


def test_link(purpose: str) -> str:
    """A link of the right shape that does nothing (the page says the link is not valid)."""
    return f"{site_base_url()}{reverse(f'wagtail_oneonone:{purpose}', args=['test-send'])}"


def ensure_unsubscribe_link(rendered: RenderedEmail, url: str) -> RenderedEmail:
    """Every marketing email shows an unsubscribe link, even if its template forgot one."""
    html, text = rendered.html, rendered.text
    if url not in html and escape(url) not in html:
        footer = (
            '<p style="font-size:12px;color:#666;text-align:center">'
            f'<a href="{escape(url)}">Unsubscribe</a></p>'
        )
        html = html.replace("</body>", footer + "</body>") if "</body>" in html else html + footer
    if url not in text:
        text = f"{text.rstrip()}\n\nUnsubscribe: {url}\n"
    return replace(rendered, html=html, text=text)


def _send_one(
    message: OutboxMessage,
    link: _Link,
    *,
    clock: Clock,
    pace: Pacer,
    result: DispatchResult,
    contents: dict[tuple[str, str], Any] | None = None,
) -> str:
    """Decide, render and send one message; says whether the connection is still good."""
    now = clock()
    contact = message.contact
    # One batch sends mostly one source: load its content once per batch.
    key = (message.source_type, message.source_id)
    cache = contents if contents is not None else {}
    try:
        if key not in cache:
            cache[key] = get_source(message.source_type).content(message)
        content = cache[key]
    except SourceGone as exc:
        outbox.mark_skipped(message, str(exc))
        result.skipped += 1
        return _SENT_OR_DONE
    decision = decide(message, contact, now=now, topic=content.topic)
    if decision.action == SKIP:
        outbox.mark_skipped(message, decision.reason)
        result.skipped += 1
        return _SENT_OR_DONE
    if decision.action == DEFER:
        assert decision.defer_until is not None
        outbox.mark_deferred(message, decision.defer_until, decision.reason)
        result.deferred += 1
        return _SENT_OR_DONE
    try:
        links = _links(message)
        rendered = _render(message, content, links)
    except TemplateRenderError as exc:
        # One broken template fails its own message, visibly, and the batch goes on.
        outbox.mark_failed(message, f"template error in the {exc.part}: {exc.message}")
        result.failed += 1
        result.errors.append(str(exc))
        return _SENT_OR_DONE
    email = build_email(
        message, contact, content, rendered, unsubscribe_url=links["unsubscribe_url"]
    )
    pace.wait()
    try:
        link.open()
    except Exception as exc:
        # An outage uses up no attempts: a provider down for an hour must not fail a
        # campaign. Every message waits RETRY_BACKOFF_SECONDS and tries again.
        failure = classify_failure(exc)
        logger.warning("The email backend is unreachable: %s", failure.message)
        outbox.mark_for_retry(message, failure.message, now=clock())
        result.retried += 1
        result.errors.append(failure.message)
        return _UNREACHABLE
    if not outbox.mark_handed_off(message, clock()):
        result.lost_claims += 1
        return _SENT_OR_DONE
    try:
        link.backend.send_messages([email])
    except Exception as exc:
        failure = classify_failure(exc, email)
        result.errors.append(failure.message)
        if failure.suppress:
            suppress(contact.email, failure.suppress, detail=failure.message[:500])
        if failure.permanent:
            outbox.mark_failed(message, failure.message, subject=rendered.subject)
            result.failed += 1
            return _SENT_OR_DONE
        outbox.mark_for_retry(message, failure.message, now=clock())
        result.retried += 1
        return _RESET
    status = getattr(email, "anymail_status", None)
    esp_message_id = getattr(status, "message_id", None) if status else None
    esp_id = "" if esp_message_id is None else str(esp_message_id)
    headers = {key: str(value) for key, value in email.extra_headers.items()}
    # The outcome and what was sent commit together; a lost claim (the lease expired and
    # another run took over) records nothing here, and the sweep has already said unknown.
    with transaction.atomic():
        recorded = outbox.mark_sent(
            message,
            now=clock(),
            esp_message_id=esp_id,
            message_id_header=headers.get("Message-ID", ""),
            subject=rendered.subject,
        )
        if recorded:
            SentContent.objects.create(
                message=message,
                html=rendered.html,
                text=rendered.text,
                headers={
                    "Subject": rendered.subject,
                    "From": email.from_email,
                    "To": ", ".join(email.to),
                    **({"Reply-To": ", ".join(email.reply_to)} if email.reply_to else {}),
                    **headers,
                },
            )
    if not recorded:
        result.lost_claims += 1
        return _SENT_OR_DONE
    result.sent += 1
    return _SENT_OR_DONE
