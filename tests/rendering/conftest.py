from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from wagtail_oneonone.rendering import TemplateSource, clear_template_cache


@pytest.fixture(autouse=True)
def _empty_template_cache() -> Iterator[None]:
    clear_template_cache()
    yield
    clear_template_cache()


def source(
    html: str = "<p>Hello</p>",
    *,
    subject: str = "Hello",
    preheader: str = "",
    text: str = "",
    key: str = "template:1",
    revision: int | str = 1,
) -> TemplateSource:
    return TemplateSource(
        key=key, revision=revision, subject=subject, preheader=preheader, html=html, text=text
    )


def context(**overrides: Any) -> dict[str, Any]:
    """A context shaped like ``build_context``'s, without a database."""
    data: dict[str, Any] = {
        "contact": {
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "full_name": "Ada Lovelace",
            "time_zone": "Europe/London",
            "locale": "en-gb",
            "birthday": None,
            "customer_since": "2024-02-01",
            "attributes": {"favourite_tea": "Assam"},
            "consent_status": "subscribed",
            "source": "checkout",
        },
        "attributes": {"favourite_tea": "Assam"},
        "events": [],
        "recent_products": [],
        "last_cart": [],
        "last_order": None,
        "trigger": None,
        "site": {"name": "Oak & Thread", "base_url": "https://shop.example"},
        "now": "2025-05-01T09:00:00+00:00",
        "unsubscribe_url": "https://shop.example/u/abc/",
        "preferences_url": "https://shop.example/p/abc/",
    }
    data.update(overrides)
    return data


def oneonone_settings(**values: Any) -> override_settings:
    return override_settings(WAGTAIL_ONEONONE=values)
