"""A campaign rendered as one contact: what they would receive, and which branches chose it.

The admin's preview page and Wagtail's live preview panel both use
:func:`render_campaign`, which renders exactly as the worker does (the same body
template, dynamic choices, CSS inlining and unsubscribe footer), with links that do
nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import TemplateRenderError
from ..models import Campaign, Contact
from ..rendering import RenderedEmail, preview_context, render_body
from ..sending.dispatch import ensure_unsubscribe_link
from .content import build_body

#: The admin session remembers whom the editor last previewed as, for the live preview.
SESSION_KEY = "wagtail_oneonone_preview_contact"


@dataclass(frozen=True)
class CampaignPreview:
    """One contact's copy, which dynamic branch each block took, and what to fix."""

    contact: Contact
    email: RenderedEmail | None = None
    choices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: TemplateRenderError | None = None


def render_campaign(
    campaign: Campaign, contact: Contact, *, now: dt.datetime | None = None
) -> CampaignPreview:
    """``campaign`` (as edited, not necessarily published) rendered for ``contact``."""
    try:
        body = build_body(campaign, revision_key="preview", cache=False)
        context = preview_context(contact, now=now)
        rendered = render_body(body, context, contact_id=contact.pk, now=now)
    except TemplateRenderError as exc:
        return CampaignPreview(contact=contact, error=exc)
    email = ensure_unsubscribe_link(rendered.email, context["unsubscribe_url"])
    return CampaignPreview(
        contact=contact,
        email=email,
        choices=rendered.describe_choices(),
        warnings=[*body.warnings, *rendered.warnings],
    )


def sample_contact() -> Contact:
    """An invented contact (never saved), for editors who may not see real ones."""
    return Contact(email="jane.doe@example.com", first_name="Jane", last_name="Doe")


def preview_contact(request: Any, *, may_see_contacts: bool) -> Contact:
    """Whom the live preview renders as: the contact last chosen on the preview page, else
    the most recently updated one; an invented one for editors who may not see contacts."""
    if not may_see_contacts:
        return sample_contact()
    contact_id = getattr(request, "session", {}).get(SESSION_KEY)
    contact = Contact.objects.filter(pk=contact_id).first() if contact_id else None
    contact = contact or Contact.objects.order_by("-updated_at", "-pk").first()
    return contact or sample_contact()


def preview_frame_context(
    campaign: Campaign, request: Any, *, may_see_contacts: bool
) -> dict[str, Any]:
    """The context of Wagtail's preview panel (``Campaign.get_preview_context``)."""
    contact = preview_contact(request, may_see_contacts=may_see_contacts)
    return {"campaign": campaign, "preview": render_campaign(campaign, contact)}
