"""A campaign revision as sendable content: its layout, its body built once, its headers."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from wagtail.models import Revision

from ..models import Campaign, EmailLayout, MessageKind, OutboxMessage
from ..rendering import EmailBody, EmailLayoutSpec, body_template
from ..rendering.context import absolute, site_context
from ..sending.sources import SourceContent, SourceGone, register_source

#: Outbox rows of a campaign send: ``source_id`` is the campaign's id.
CAMPAIGN_SOURCE = "campaign"
#: Test sends and previews of one revision (a draft): ``source_id`` is the revision's id.
REVISION_SOURCE = "campaign_revision"
#: What a preview shows when no layout exists yet (sending refuses until one does).
MISSING_ADDRESS = "(Your postal address: add an email layout before sending.)"
_BODY_CACHE_SIZE = 32


def layout_of(campaign: Campaign) -> EmailLayout | None:
    """The campaign's own layout, else the default one, else any."""
    return layout_by_id(campaign.layout_id)


def layout_by_id(layout_id: int | None) -> EmailLayout | None:
    """That layout, else the default one, else any (flows use this too)."""
    if layout_id:
        layout = EmailLayout.objects.filter(pk=layout_id).first()
        if layout is not None:
            return layout
    return EmailLayout.objects.order_by("-is_default", "pk").first()


def layout_spec(layout: EmailLayout | None) -> EmailLayoutSpec:
    """What the renderer needs from a layout snippet (its logo made an absolute rendition)."""
    if layout is None:
        return EmailLayoutSpec(name="(no layout)", postal_address=MISSING_ADDRESS)
    logo_url, logo_height = "", None
    if layout.logo is not None:
        try:
            rendition = layout.logo.get_rendition(f"width-{2 * layout.logo_width}")
        except OSError:
            rendition = None  # an unreadable file: the email shows the shop's name instead
        if rendition is not None:
            logo_url = absolute(rendition.url, site_context()["base_url"])
            shown = min(layout.logo_width, rendition.width)
            logo_height = round(shown * rendition.height / rendition.width) or None
    return EmailLayoutSpec(
        name=layout.name,
        postal_address=layout.postal_address,
        logo_url=logo_url,
        logo_alt=layout.logo.title if layout.logo is not None else "",
        logo_width=layout.logo_width,
        logo_height=logo_height,
        link_url=layout.link_url,
        footer_html=layout.footer,
        brand_colour=layout.brand_colour,
        button_text_colour=layout.button_text_colour,
        background=layout.background,
        content_background=layout.content_background,
        text_colour=layout.text_colour,
        muted_colour=layout.muted_colour,
        dark_background=layout.dark_background,
        dark_content_background=layout.dark_content_background,
        dark_text_colour=layout.dark_text_colour,
        dark_muted_colour=layout.dark_muted_colour,
        font_family=layout.font_family,
        language=layout.language,
        unsubscribe_label=layout.unsubscribe_label,
        preferences_label=layout.preferences_label,
    )


class _BodyCache:
    """Built bodies by (campaign, revision, layout, layout revision): building reads pages
    and makes image renditions, so every batch of a send shares one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[Any, ...], EmailBody] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> EmailBody | None:
        with self.lock:
            body = self.items.get(key)
            if body is not None:
                self.items.move_to_end(key)
            return body

    def put(self, key: tuple[Any, ...], body: EmailBody) -> None:
        with self.lock:
            self.items[key] = body
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


body_cache = _BodyCache(_BODY_CACHE_SIZE)


def build_body(campaign: Campaign, *, revision_key: str | int, cache: bool = True) -> EmailBody:
    """The campaign's body in its layout, as one template (cached for sending)."""
    layout = layout_of(campaign)
    key = (campaign.pk, revision_key, getattr(layout, "pk", None), getattr(layout, "revision", 0))
    if cache and (body := body_cache.get(key)) is not None:
        return body
    body = body_template(
        campaign.body,
        layout_spec(layout),
        key=f"campaign:{campaign.pk}",
        revision=".".join(str(part) for part in key[1:]),
        subject=campaign.subject,
        preheader=campaign.preheader,
    )
    if cache:
        body_cache.put(key, body)
    return body


def content_of_revision(revision: Revision) -> SourceContent:
    """What a campaign revision sends: body, sender, Reply-To, topic."""
    campaign = revision.as_object()
    assert isinstance(campaign, Campaign)
    # With its time: SQLite may reuse the id of a deleted revision for a new one.
    return content_of_campaign(
        campaign, revision_key=f"{revision.pk}@{revision.created_at.timestamp()}"
    )


def content_of_campaign(campaign: Campaign, *, revision_key: str | int) -> SourceContent:
    body = build_body(campaign, revision_key=revision_key)
    return SourceContent(
        template=body.source,
        body=body,
        kind=MessageKind.MARKETING,
        topic=campaign.topic,
        from_email=campaign.from_email,
        reply_to=campaign.reply_to,
    )


class CampaignMessageSource:
    """A campaign send's rows: the revision approved when it was scheduled."""

    def content(self, message: OutboxMessage) -> SourceContent:
        from ..models import CampaignSend, CampaignStatus

        send = (
            CampaignSend.objects.select_related("revision")
            .filter(campaign_id=_int(message.source_id))
            .first()
        )
        if send is None:
            raise SourceGone(f"campaign {message.source_id} was deleted or never scheduled")
        if send.status == CampaignStatus.CANCELLED:
            raise SourceGone("the campaign was cancelled")
        return content_of_revision(send.revision)


class RevisionMessageSource:
    """One revision of a campaign (test sends of a draft)."""

    def content(self, message: OutboxMessage) -> SourceContent:
        revision = Revision.objects.filter(pk=_int(message.source_id)).first()
        if revision is None:
            raise SourceGone(f"campaign revision {message.source_id} no longer exists")
        return content_of_revision(revision)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SourceGone(f"{value!r} is not a campaign id") from None


def register_campaign_sources() -> None:
    register_source(CAMPAIGN_SOURCE, CampaignMessageSource())
    register_source(REVISION_SOURCE, RevisionMessageSource())
