"""The dispatcher: claim due messages in batches and send each batch over one connection.

A batch goes a hand-off group (``HANDOFF_GROUP_SIZE``) at a time: decided, rendered,
marked handed off and recorded per group, so the database sees a few statements and two
commits for a whole group instead of for every message.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from html import escape
from typing import Any

from anymail.message import AnymailMessage
from django.core.mail import get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ..conf import app_settings
from ..contacts.services import suppress
from ..exceptions import TemplateRenderError
from ..models import MessageKind, OutboxMessage, SentContent
from ..rendering.context import ContextEvents, build_contexts, load_context_events
from ..rendering.dynamic import DynamicChoices, choices_for_contacts
from ..rendering.email_html import render_body
from ..rendering.render import RenderedEmail, render_email
from ..tracking.links import preferences_url, site_base_url, unsubscribe_url
from . import outbox
from .decision import DEFER, SKIP, SendChecks
from .failures import Failure, classify_failure
from .messages import build_email
from .sources import SourceContent, SourceGone, delivers_to_staff, get_source, stop_reasons
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
    """Send claimed messages over one backend connection, a hand-off group at a time.

    Each message still gets its own outcome; :func:`_send_group` says what a group does.
    """
    result = result or DispatchResult()
    pace = pace or pacer()
    messages = list(
        OutboxMessage.objects.filter(pk__in=ids)
        .select_related("contact", "trigger_event")
        .order_by("scheduled_at", "id")
    )
    link = _Link(connection or get_connection(fail_silently=False))
    batch = _Batch(
        # One batch sends mostly one source: its content is loaded once.
        contents={},
        # What the contexts need from the event log, in one query for the whole batch.
        events=load_context_events(message.contact for message in messages),
    )
    size = int(app_settings.HANDOFF_GROUP_SIZE)
    try:
        for start in range(0, len(messages), size):
            group = messages[start : start + size]
            reachable = _send_group(
                group, link, clock=clock, pace=pace, result=result, batch=batch
            )
            if not reachable:
                # No connection at all: the rest of the batch waits for the next run.
                waiting = _Outcomes(result, clock)
                for message in messages[start + size :]:
                    waiting.retry(message, "the email backend was unreachable")
                waiting.record()
                break
    finally:
        link.close()
    return result


def _send_group(
    group: Sequence[OutboxMessage],
    link: _Link,
    *,
    clock: Clock,
    pace: Pacer,
    result: DispatchResult,
    batch: _Batch,
) -> bool:
    """Decide, render, hand off and send a few claimed messages; False if unreachable.

    1. decide: sources may stop their own messages (a flow whose goal was reached); the
       consent, preferences, suppression and recent email of all the group's contacts are
       read at once, just before it is decided (:class:`SendChecks`);
    2. render (the batch read the event log for the contexts in one query); a template
       error fails its message only;
    3. hand off: one UPDATE marks the messages still claimed by this worker and commits
       with the outcomes decided so far (skipped, deferred, failed to render);
    4. send them one by one over the batch's connection;
    5. record their outcomes (sent with what was sent, failed, retried) in one transaction.

    A worker that dies between 3 and 5 leaves at most the group ``unknown``.
    """
    now = clock()
    decided = _Outcomes(result, clock)
    candidates: list[tuple[OutboxMessage, SourceContent]] = []
    for message in group:
        content = batch.content(message)
        if isinstance(content, SourceGone):
            decided.skip(message, str(content))
        else:
            candidates.append((message, content))
    # Asked now, not when queued: a purchase a second ago ends a flow's reminder.
    stopped = stop_reasons([message for message, _ in candidates])
    for message, _ in candidates:
        if message.pk in stopped:
            decided.skip(message, stopped[message.pk])
    candidates = [
        (message, content) for message, content in candidates if message.pk not in stopped
    ]
    checks = SendChecks.load([(message, message.contact) for message, _ in candidates], now=now)
    # Built after the refresh, so that they show the contacts' current consent.
    links = [_links(message) for message, _ in candidates]
    contexts = build_contexts(
        [message.contact for message, _ in candidates],
        trigger_events=[message.trigger_event for message, _ in candidates],
        extras=[
            {**(message.context or {}), **urls}
            for (message, _), urls in zip(candidates, links, strict=True)
        ],
        now=now,
        events=batch.events,
    )
    dynamic = _dynamic_choices(candidates, now)
    ready: list[_Outgoing] = []
    for (message, content), urls, context in zip(candidates, links, contexts, strict=True):
        decision = checks.decide(
            message, message.contact, topic=content.topic, capped=content.capped
        )
        if decision.action == SKIP:
            decided.skip(message, decision.reason)
            continue
        if decision.action == DEFER:
            assert decision.defer_until is not None
            decided.defer(message, decision.defer_until, decision.reason)
            continue
        try:
            choices = dynamic.get((id(content), message.contact_id))
            rendered = _render(message, content, context, urls["unsubscribe_url"], choices)
        except TemplateRenderError as exc:
            # One broken template fails its own message, visibly, and the group goes on.
            decided.fail(message, f"template error in the {exc.part}: {exc.message}")
            result.errors.append(str(exc))
            continue
        email = build_email(
            message, message.contact, content, rendered, unsubscribe_url=urls["unsubscribe_url"]
        )
        checks.going(message)  # a second message to this contact in the group counts it
        ready.append(_Outgoing(message, rendered, email))
    if ready:
        try:
            link.open()
        except Exception as exc:
            # An outage uses up no attempts: a provider down for an hour must not fail a
            # campaign. Every message waits RETRY_BACKOFF_SECONDS and tries again.
            error = _unreachable(exc, result)
            for item in ready:
                decided.retry(item.message, error)
            decided.record()
            return False
    with transaction.atomic():
        decided.record()
        handed = outbox.mark_handed_off_many([item.message for item in ready], clock())
    result.lost_claims += len(ready) - len(handed)
    kept = {message.pk for message in handed}
    return _send_handed_off(
        [item for item in ready if item.message.pk in kept],
        link,
        clock=clock,
        pace=pace,
        result=result,
    )


def _send_handed_off(
    outgoing: Sequence[_Outgoing],
    link: _Link,
    *,
    clock: Clock,
    pace: Pacer,
    result: DispatchResult,
) -> bool:
    """Send handed-off messages one by one, then record their outcomes in one transaction."""
    outcomes = _Outcomes(result, clock)
    reachable = True
    for index, item in enumerate(outgoing):
        pace.wait()
        try:
            link.open()  # again, after a failure closed it
        except Exception as exc:
            # The backend went away: the rest never reached it, so they use no attempt.
            error = _unreachable(exc, result)
            for waiting in outgoing[index:]:
                outcomes.not_sent(waiting.message, error)
            reachable = False
            break
        try:
            link.backend.send_messages([item.email])
        except Exception as exc:
            failure = classify_failure(exc, item.email)
            result.errors.append(failure.message)
            if failure.suppress:
                outcomes.suppress(item.message.contact.email, failure)
            if failure.permanent:
                outcomes.fail(item.message, failure.message, subject=item.rendered.subject)
            else:
                outcomes.retry(item.message, failure.message)
                link.close()  # the connection may be broken: the next message opens anew
            continue
        outcomes.sent(item)
    outcomes.record()
    return reachable


def _unreachable(exc: Exception, result: DispatchResult) -> str:
    error = classify_failure(exc).message
    logger.warning("The email backend is unreachable: %s", error)
    result.errors.append(error)
    return error


@dataclass
class _Batch:
    """What a batch's groups share: the sources' content, and the contacts' events."""

    contents: dict[tuple[str, str], SourceContent | SourceGone]
    events: ContextEvents

    def content(self, message: OutboxMessage) -> SourceContent | SourceGone:
        key = (message.source_type, message.source_id)
        if key not in self.contents:
            try:
                self.contents[key] = get_source(message.source_type).content(message)
            except SourceGone as exc:
                self.contents[key] = exc
        return self.contents[key]


@dataclass(frozen=True)
class _Outgoing:
    message: OutboxMessage
    rendered: RenderedEmail
    email: AnymailMessage


class _Outcomes:
    """The outcomes of some of a group's messages, gathered, then recorded in one transaction.

    Recording needs the claim: a message whose claim was lost (the lease expired and another
    run took over) records nothing, and the sweep has already said ``unknown``.
    """

    def __init__(self, result: DispatchResult, clock: Clock) -> None:
        self.result = result
        self.clock = clock
        self.writes: list[Callable[[], object]] = []
        self.sent_items: list[tuple[outbox.SentMessage, _Outgoing]] = []

    def skip(self, message: OutboxMessage, reason: str) -> None:
        self.result.skipped += 1
        self.writes.append(partial(outbox.mark_skipped, message, reason))

    def defer(self, message: OutboxMessage, until: dt.datetime, reason: str) -> None:
        self.result.deferred += 1
        self.writes.append(partial(outbox.mark_deferred, message, until, reason))

    def fail(self, message: OutboxMessage, error: str, *, subject: str = "") -> None:
        self.result.failed += 1
        self.writes.append(partial(outbox.mark_failed, message, error, subject=subject))

    def retry(self, message: OutboxMessage, error: str) -> None:
        self.result.retried += 1
        self.writes.append(partial(outbox.mark_for_retry, message, error, now=self.clock()))

    def not_sent(self, message: OutboxMessage, error: str) -> None:
        self.result.retried += 1
        self.writes.append(partial(outbox.mark_not_sent, message, error, now=self.clock()))

    def suppress(self, email: str, failure: Failure) -> None:
        assert failure.suppress is not None
        self.writes.append(
            partial(suppress, email, failure.suppress, detail=failure.message[:500])
        )

    def sent(self, item: _Outgoing) -> None:
        status = getattr(item.email, "anymail_status", None)
        esp_message_id = getattr(status, "message_id", None) if status else None
        sent = outbox.SentMessage(
            message=item.message,
            sent_at=self.clock(),
            esp_message_id="" if esp_message_id is None else str(esp_message_id),
            message_id_header=str(item.email.extra_headers.get("Message-ID", "")),
            subject=item.rendered.subject,
        )
        self.sent_items.append((sent, item))

    def record(self) -> None:
        """Write every outcome; a sent message and what was sent commit together."""
        if not (self.writes or self.sent_items):
            return
        with transaction.atomic(savepoint=False):  # or as part of the caller's transaction
            for write in self.writes:
                write()
            recorded = outbox.mark_sent_many([sent for sent, _ in self.sent_items])
            held = {sent.message.pk for sent in recorded}
            outbox.store_sent_content(
                [_sent_content(item) for _, item in self.sent_items if item.message.pk in held]
            )
        self.result.sent += len(recorded)
        self.result.lost_claims += len(self.sent_items) - len(recorded)
        self.writes.clear()
        self.sent_items.clear()


def _sent_content(item: _Outgoing) -> SentContent:
    """Exactly what went to the backend: both parts and the headers."""
    email, rendered = item.email, item.rendered
    return SentContent(
        message=item.message,
        html=rendered.html,
        text=rendered.text,
        headers={
            "Subject": rendered.subject,
            "From": email.from_email,
            "To": ", ".join(email.to),
            **({"Reply-To": ", ".join(email.reply_to)} if email.reply_to else {}),
            **{key: str(value) for key, value in email.extra_headers.items()},
        },
    )


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
    if delivers_to_staff(message):
        # A tester (or a colleague) clicking these must not unsubscribe the real contact.
        return {
            "unsubscribe_url": test_link("unsubscribe"),
            "preferences_url": test_link("preferences"),
        }
    return {
        "unsubscribe_url": unsubscribe_url(message.contact_id, message.pk),
        "preferences_url": preferences_url(message.contact_id, message.pk),
    }


def _dynamic_choices(
    candidates: Sequence[tuple[OutboxMessage, SourceContent]], now: dt.datetime
) -> dict[tuple[int, int], DynamicChoices]:
    """Each block body's dynamic branches asked once for the group's contacts (a query a
    branch, not one per contact). Keyed by (id of the content, contact id)."""
    by_content: dict[int, tuple[SourceContent, list[int]]] = {}
    for message, content in candidates:
        if content.body is not None and content.body.dynamic_blocks:
            by_content.setdefault(id(content), (content, []))[1].append(message.contact_id)
    chosen: dict[tuple[int, int], DynamicChoices] = {}
    for key, (content, contact_ids) in by_content.items():
        assert content.body is not None
        try:
            found = choices_for_contacts(content.body.dynamic_blocks, contact_ids, now=now)
        except Exception:
            # A branch that cannot be asked (its segment was deleted): each message renders
            # on its own and fails with the reason, rather than the whole group.
            logger.warning("Dynamic blocks could not be chosen for a group", exc_info=True)
            continue
        for contact_id, choices in found.items():
            chosen[(key, contact_id)] = choices
    return chosen


def _render(
    message: OutboxMessage,
    content: SourceContent,
    context: dict[str, Any],
    unsubscribe: str,
    choices: DynamicChoices | None = None,
) -> RenderedEmail:
    if content.body is not None:
        rendered = render_body(
            content.body, context, contact_id=message.contact_id, choices=choices
        ).email
    else:
        rendered = render_email(content.template, context)
    if MessageKind.MARKETING in (message.kind, content.kind):  # (a test: the content's)
        rendered = ensure_unsubscribe_link(rendered, unsubscribe)
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
