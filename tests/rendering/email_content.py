"""Building email bodies of blocks for the tests: real Wagtail blocks, images and pages."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from typing import Any

from django.core.files.images import ImageFile
from PIL import Image as PILImage
from wagtail.blocks import StreamValue
from wagtail.images import get_image_model
from wagtail.models import Page, Site

from wagtail_oneonone.blocks import EmailBodyBlock
from wagtail_oneonone.models import Contact
from wagtail_oneonone.rendering import (
    EmailBody,
    EmailLayoutSpec,
    RenderedBody,
    body_template,
    build_context,
    render_body,
)

BASE_URL = "https://shop.example"
LINKS = {
    "unsubscribe_url": f"{BASE_URL}/u/signed/",
    "preferences_url": f"{BASE_URL}/p/signed/",
}


def layout(**overrides: Any) -> EmailLayoutSpec:
    values: dict[str, Any] = {
        "name": "Oak & Thread",
        "postal_address": "Oak & Thread Ltd\n1 Mill Lane\nLeeds LS1 1AA",
    }
    values.update(overrides)
    return EmailLayoutSpec(**values)


def stream(*blocks: tuple[str, Any]) -> StreamValue:
    """A body from ``(block type, value)`` pairs, as stored in the database."""
    raw = [
        {"type": kind, "value": value, "id": f"{kind}-{index}"}
        for index, (kind, value) in enumerate(blocks, 1)
    ]
    return EmailBodyBlock().to_python(raw)


def heading(text: str, level: str = "h2") -> tuple[str, dict[str, Any]]:
    return ("heading", {"text": text, "level": level, "align": "left"})


def paragraph(html: str) -> tuple[str, str]:
    return ("rich_text", html)


def button(label: str, *, url: str = "", page: int | None = None) -> tuple[str, dict[str, Any]]:
    return (
        "button",
        {
            "label": label,
            "url": url,
            "page": page,
            "background_colour": "",
            "text_colour": "",
            "align": "center",
        },
    )


def rules(tree: dict[str, Any]) -> str:
    return json.dumps({"version": 1, "rules": tree})


def branch(label: str, condition: tuple[str, Any], *content: Any) -> dict[str, Any]:
    kind, value = condition
    return {
        "label": label,
        "condition": [{"type": kind, "value": value}],
        "content": [{"type": k, "value": v} for k, v in content],
    }


def dynamic(*branches: dict[str, Any], fallback: list[Any]) -> tuple[str, dict[str, Any]]:
    return (
        "dynamic",
        {"branches": list(branches), "fallback": [{"type": k, "value": v} for k, v in fallback]},
    )


def build(value: StreamValue, **kwargs: Any) -> EmailBody:
    kwargs.setdefault("key", "campaign:1")
    kwargs.setdefault("revision", 1)
    kwargs.setdefault("subject", "News for {{ contact.first_name|default('you', true) }}")
    return body_template(value, kwargs.pop("layout", None) or layout(), **kwargs)


def render_for(body: EmailBody, contact: Contact, **kwargs: Any) -> RenderedBody:
    return render_body(body, build_context(contact, extra=LINKS), contact_id=contact.pk, **kwargs)


def png(width: int, height: int, name: str = "picture.png") -> ImageFile:
    data = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 120, 40)).save(data, "PNG")
    return ImageFile(data, name=name)


def wagtail_image(width: int = 1600, height: int = 900, title: str = "Autumn range") -> Any:
    return get_image_model().objects.create(title=title, file=png(width, height))


def site_page(title: str, slug: str, **fields: Any) -> Page:
    """A published page under the default site's home page."""
    home = Site.objects.get(is_default_site=True).root_page
    return home.add_child(instance=Page(title=title, slug=slug, **fields))


class _Elements(HTMLParser):
    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag
        self.found: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == self.tag:
            self.found.append({name: value or "" for name, value in attrs})


def elements(html: str, tag: str) -> list[dict[str, str]]:
    """The attributes of every ``tag`` element, whatever order they were written in."""
    parser = _Elements(tag)
    parser.feed(html)
    return parser.found
