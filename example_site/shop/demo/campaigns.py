"""The demo's segments, email layout and a campaign ready to preview, approve and send."""

from __future__ import annotations

import json
from typing import Any

from wagtail.models import Page

from wagtail_oneonone.blocks import EmailBodyBlock
from wagtail_oneonone.models import Campaign, EmailLayout, Segment

SEGMENTS: list[dict[str, Any]] = [
    {
        "name": "Subscribers",
        "slug": "subscribers",
        "description": "Everyone who said yes to email.",
        "rules": {"all": [{"condition": "consent", "status": ["subscribed"]}]},
    },
    {
        "name": "VIP customers",
        "slug": "vip-customers",
        "description": "Spent £300 or more in the last year.",
        "rules": {
            "all": [
                {
                    "condition": "money",
                    "metric": "total_spend",
                    "operator": "gte",
                    "value": 300,
                    "window": {"type": "last", "amount": 365, "unit": "days"},
                }
            ]
        },
    },
    {
        "name": "Carted this week, no order since",
        "slug": "carted-no-order",
        "description": "Added to their basket in the last 7 days and bought nothing after.",
        "rules": {
            "all": [
                {
                    "condition": "event",
                    "event_type": "cart_updated",
                    "window": {"type": "last", "amount": 7, "unit": "days"},
                    "without_event": "order_placed",
                }
            ]
        },
    },
]


def install_segments() -> dict[str, Segment]:
    segments = {}
    for fields in SEGMENTS:
        segment, _ = Segment.objects.get_or_create(
            slug=fields["slug"],
            defaults={
                "name": fields["name"],
                "description": fields["description"],
                "rules": {"version": 1, "rules": fields["rules"]},
            },
        )
        segments[segment.slug] = segment
    return segments


def install_layout() -> EmailLayout:
    layout, _ = EmailLayout.objects.get_or_create(
        name="Oak & Thread",
        defaults={
            "is_default": True,
            "postal_address": "Oak & Thread Ltd, 1 Mill Lane, Leeds LS1 1AA, United Kingdom",
            "footer": "<p>You get this because you shop with us. Reply any time: "
            "a person reads every email.</p>",
            "brand_colour": "#8a4b2a",
        },
    )
    return layout


def _block(kind: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "value": value}


def _text(html: str) -> dict[str, Any]:
    return _block("rich_text", html)


def campaign_body(segments: dict[str, Segment], shop: Page | None) -> Any:
    """A heading, a dynamic block (VIPs, basket waiting, everyone else) and their products."""
    carted_rules = json.dumps({"version": 1, "rules": segments["carted-no-order"].rules["rules"]})
    raw = [
        _block(
            "heading",
            {
                "text": "Autumn is here, {{ contact.first_name|default('friend', true) }}",
                "level": "h1",
                "align": "left",
            },
        ),
        _block(
            "dynamic",
            {
                "branches": [
                    {
                        "label": "VIPs",
                        "condition": [_block("segment", str(segments["vip-customers"].pk))],
                        "content": [
                            _text(
                                "<p>As one of our best customers you can shop the new range "
                                "a week before anyone else, with free delivery.</p>"
                            )
                        ],
                    },
                    {
                        "label": "Basket waiting",
                        "condition": [_block("rules", carted_rules)],
                        "content": [
                            _text("<p>Your basket is still waiting, and it has company:</p>"),
                        ],
                    },
                ],
                "fallback": [_text("<p>Warm layers, slow mornings: the autumn range is in.</p>")],
            },
        ),
        _block("products", {"source": "recent", "pages": [], "count": 3}),
        _block(
            "button",
            {
                "label": "Shop autumn",
                "url": "",
                "page": shop.pk if shop is not None else None,
                "background_colour": "",
                "text_colour": "",
                "align": "center",
            },
        ),
    ]
    return EmailBodyBlock().to_python(raw)


def install_campaign(shop: Page | None) -> Campaign | None:
    """A published campaign to preview and send; None when it exists already."""
    if Campaign.objects.filter(name="Autumn favourites").exists():
        return None
    segments = install_segments()
    layout = install_layout()
    campaign = Campaign(
        name="Autumn favourites",
        subject="{{ contact.first_name|default('Hello', true) }}, autumn is here",
        preheader="Picked for you from the new range",
        reply_to="Jo at Oak & Thread <jo@oakandthread.example>",
        topic="news",
        layout=layout,
        body=campaign_body(segments, shop),
        live=False,
    )
    campaign.audience = [segments["subscribers"]]
    campaign.save()
    campaign.save_revision().publish()
    return campaign
