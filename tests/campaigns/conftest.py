"""Campaigns for the tests: real segments, a layout, published revisions."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils.text import slugify

from tests.rendering.email_content import stream
from tests.sending.conftest import (  # noqa: F401  (fixtures)
    anymail_backend,
    sending_settings,
    smtp_server,
    subscribed,
)
from wagtail_oneonone.models import Campaign, EmailLayout, Segment


def segment(name: str, tree: dict[str, Any]) -> Segment:
    return Segment.objects.create(
        name=name, slug=slugify(name), rules={"version": 1, "rules": tree}
    )


def attribute_is(name: str, value: str) -> dict[str, Any]:
    return {
        "condition": "attribute",
        "attribute": name,
        "type": "text",
        "operator": "equals",
        "value": value,
    }


EVERYONE: dict[str, Any] = {"all": []}


def make_campaign(
    *,
    audience: list[Segment],
    body: Any = None,
    exclusions: list[Segment] | None = None,
    publish: bool = True,
    **fields: Any,
) -> Campaign:
    """A campaign, saved, with its first revision published unless ``publish`` is False."""
    values: dict[str, Any] = {
        "name": "Autumn news",
        "subject": "Autumn at Oak & Thread, {{ contact.first_name|default('friend', true) }}",
        "preheader": "New things for {{ contact.first_name|default('you', true) }}",
        "reply_to": "Jo Maker <jo@shop.example>",
        "from_email": "Oak & Thread <news@shop.example>",
        "live": False,
    }
    values.update(fields)
    campaign = Campaign(
        body=body
        if body is not None
        else stream(("heading", {"text": "Hello", "level": "h2", "align": "left"})),
        **values,
    )
    campaign.audience = audience
    campaign.exclusions = exclusions or []
    campaign.save()
    revision = campaign.save_revision()
    if publish:
        revision.publish()
        campaign.refresh_from_db()
    return campaign


@pytest.fixture
def email_layout(db: None) -> EmailLayout:
    return EmailLayout.objects.create(
        name="Oak & Thread",
        is_default=True,
        postal_address="Oak & Thread Ltd\n1 Mill Lane\nLeeds LS1 1AA",
    )
