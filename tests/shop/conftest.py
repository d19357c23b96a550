"""A small shop page tree and a browser-like client for the shop tests."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from wagtail.models import Page, Site

from example_site.shop.demo.catalogue import create_image, demo_collection
from example_site.shop.models import HomePage, ProductIndexPage, ProductPage

# The app ignores requests without a browser User-Agent (bots); so would a real site.
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def fresh_site_cache() -> Iterator[None]:
    """Wagtail caches site root paths outside the database; don't leak ours to others."""
    Site.clear_site_root_paths_cache()
    yield
    Site.clear_site_root_paths_cache()


@pytest.fixture
def shop(db: None) -> dict[str, Any]:
    """Home → Products → two products (one with an image), served by the default site."""
    root = Page.get_first_root_node()
    home = root.add_child(instance=HomePage(title="Test shop", slug="test-shop"))
    site = Site.objects.get(is_default_site=True)
    site.root_page = home
    site.save()
    index = home.add_child(instance=ProductIndexPage(title="Products", slug="products"))
    boots = index.add_child(
        instance=ProductPage(
            title="Fellside Walking Boots",
            slug="boots",
            sku="OT-SHO-001",
            price=Decimal("120.00"),
            category="shoes",
            image=create_image("Fellside Walking Boots", 0.07, demo_collection()),
        )
    )
    mug = index.add_child(
        instance=ProductPage(
            title="Stoneware Mug",
            slug="mug",
            sku="OT-HOM-002",
            price=Decimal("14.50"),
            category="home",
        )
    )
    return {"home": home, "index": index, "boots": boots, "mug": mug}


@pytest.fixture
def browser() -> Client:
    return Client(HTTP_USER_AGENT=BROWSER)


def visitor_id(client: Client) -> str:
    return client.cookies["oneonone_vid"].value
