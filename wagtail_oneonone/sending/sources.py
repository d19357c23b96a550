"""Message sources: what an outbox row's ``source_type`` names, and how to get its content.

This module ships the ``template`` source (an :class:`EmailTemplate` sent to one contact:
receipts) and ``test`` (a test send of another source's content to a staff address);
campaigns register theirs in ``campaigns/content.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from ..models import EmailTemplate, MessageKind, OutboxMessage
from ..rendering.email_html import EmailBody
from ..rendering.render import TemplateSource


@dataclass(frozen=True)
class SourceContent:
    """Everything a source says about a message besides the contact's own data.

    ``body`` is set for email built from blocks (its ``source`` is ``template``): it is
    rendered with ``render_body``, which chooses dynamic blocks and inlines the CSS.
    """

    template: TemplateSource
    kind: str
    topic: str = ""
    from_email: str = ""
    reply_to: str = ""
    body: EmailBody | None = None
    #: False: the shop's frequency cap does not hold this email back (it still counts).
    capped: bool = True


class SourceGone(Exception):
    """The source no longer exists or no longer sends (a cancelled campaign, an exited flow)."""


class MessageSource(Protocol):
    """Gives the content of its outbox rows. A source may also define
    ``stop_reasons(messages) -> {message id: reason}``: asked at send time for a group's
    messages at once, it skips those it names (a flow whose goal was reached meanwhile)."""

    def content(self, message: OutboxMessage) -> SourceContent:
        """The content to render; raises :class:`SourceGone` if there is none any more."""
        ...


def stop_reasons(messages: list[OutboxMessage]) -> dict[int, str]:
    """Why some of these messages must not go any more, asked of each one's source."""
    by_source: dict[str, list[OutboxMessage]] = {}
    for message in messages:
        by_source.setdefault(message.source_type, []).append(message)
    reasons: dict[int, str] = {}
    for source_type, own in by_source.items():
        ask = getattr(_sources.get(source_type), "stop_reasons", None)
        if ask is not None:
            reasons.update(ask(own))
    return reasons


class TemplateMessageSource:
    """``source_id`` is an EmailTemplate's id."""

    def content(self, message: OutboxMessage) -> SourceContent:
        template = EmailTemplate.objects.filter(pk=message.source_id).first()
        if template is None:
            raise SourceGone(f"email template {message.source_id} was deleted")
        return content_of(template)


def content_of(template: EmailTemplate) -> SourceContent:
    return SourceContent(
        template=TemplateSource(
            key=f"template:{template.pk}",
            revision=template.revision,
            subject=template.subject,
            preheader=template.preheader,
            html=template.html_body,
            text=template.text_body,
        ),
        kind=template.kind or MessageKind.MARKETING,
        topic=template.topic,
        from_email=template.from_email,
        reply_to=template.reply_to,
    )


#: Test sends: a template rendered for one contact and delivered to a staff address.
TEST_SOURCE = "test"


class TestSendSource:
    """The content of another source (``context["test_of"]``, an EmailTemplate by default)
    for the same ``source_id``; the subject says it is a test. Its kind stays the tested
    content's, so a marketing email's test shows the unsubscribe footer it will have (the
    message itself is transactional: no consent or cap holds a test back)."""

    def content(self, message: OutboxMessage) -> SourceContent:
        test_of = str((message.context or {}).get("test_of") or "template")
        if test_of == TEST_SOURCE:
            raise SourceGone("a test send cannot test a test send")
        content = get_source(test_of).content(message)
        template = replace(content.template, subject=f"[Test] {content.template.subject}")
        body = replace(content.body, source=template) if content.body is not None else None
        return replace(content, template=template, body=body, topic="")


_sources: dict[str, MessageSource] = {
    "template": TemplateMessageSource(),
    TEST_SOURCE: TestSendSource(),
}
#: Sources whose messages go to a staff address (``context["deliver_to"]``) and are only
#: about the contact: test sends and staff notifications. The contact's consent, caps and
#: quiet hours play no part, and their unsubscribe links do nothing.
_staff_sources: set[str] = {TEST_SOURCE}


def register_source(source_type: str, source: MessageSource, *, to_staff: bool = False) -> None:
    """Make ``source_type`` sendable; its outbox rows get their content from ``source``.

    ``to_staff``: its messages go to ``context["deliver_to"]``, not to the contact.
    """
    if not source_type or len(source_type) > 32:
        raise ValueError(f"source types are 1-32 characters: {source_type!r}")
    _sources[source_type] = source
    if to_staff:
        _staff_sources.add(source_type)
    else:
        _staff_sources.discard(source_type)


def delivers_to_staff(message: OutboxMessage) -> bool:
    """The message goes to a staff address (a test, a notification), not to its contact."""
    return message.source_type in _staff_sources


def registered_source_types() -> list[str]:
    return sorted(_sources)


def get_source(source_type: str) -> MessageSource:
    try:
        return _sources[source_type]
    except KeyError:
        raise SourceGone(f"no source is registered for {source_type!r}") from None
