"""Browsing and the cart record events for the anonymous visitor."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.test import Client
from django.urls import reverse

from wagtail_oneonone.models import Event

from .conftest import visitor_id


def test_viewing_a_product_records_product_and_page_views(
    browser: Client, shop: dict[str, Any]
) -> None:
    boots = shop["boots"]

    response = browser.get(boots.url)

    assert response.status_code == 200
    assert b"Add to cart" in response.content
    visitor = visitor_id(browser)
    product_view = Event.objects.get(type="product_viewed")
    assert product_view.visitor_id == visitor
    assert product_view.contact is None
    assert product_view.properties["product_id"] == str(boots.pk)
    assert product_view.properties["name"] == "Fellside Walking Boots"
    assert product_view.properties["price"] == 120
    assert product_view.properties["category"] == "shoes"
    # Emails need absolute links and images.
    assert product_view.properties["url"].startswith("http")
    assert product_view.properties["image_url"].startswith("http")
    page_view = Event.objects.get(type="page_viewed")
    assert page_view.visitor_id == visitor
    assert page_view.properties["page_id"] == boots.pk


def test_home_and_listing_show_the_products(browser: Client, shop: dict[str, Any]) -> None:
    home = browser.get("/")
    listing = browser.get(shop["index"].url + "?category=home")

    assert home.status_code == 200
    assert b"Fellside Walking Boots" in home.content
    assert listing.status_code == 200
    assert b"Stoneware Mug" in listing.content
    assert b"Fellside Walking Boots" not in listing.content
    assert not Event.objects.filter(type="product_viewed").exists()


def test_adding_to_the_cart_records_the_whole_cart(browser: Client, shop: dict[str, Any]) -> None:
    boots, mug = shop["boots"], shop["mug"]
    browser.get(boots.url)

    browser.post(reverse("shop:cart_add"), {"product_id": boots.pk, "quantity": 2})
    response = browser.post(reverse("shop:cart_add"), {"product_id": mug.pk, "quantity": 1})

    assert response.status_code == 302
    events = list(Event.objects.filter(type="cart_updated").order_by("id"))
    assert len(events) == 2
    last = events[-1]
    assert last.visitor_id == visitor_id(browser)
    assert last.properties["action"] == "added"
    assert last.properties["product_id"] == str(mug.pk)
    assert {(item["product_id"], item["quantity"]) for item in last.properties["items"]} == {
        (str(boots.pk), 2),
        (str(mug.pk), 1),
    }
    assert last.value == Decimal("254.50")
    assert last.currency == "GBP"
    cart_page = browser.get(reverse("shop:cart"))
    assert b"Stoneware Mug" in cart_page.content
    assert b"254.50" in cart_page.content


def test_changing_and_removing_lines(browser: Client, shop: dict[str, Any]) -> None:
    boots, mug = shop["boots"], shop["mug"]
    browser.post(reverse("shop:cart_add"), {"product_id": boots.pk, "quantity": 1})
    browser.post(reverse("shop:cart_add"), {"product_id": mug.pk, "quantity": 1})

    browser.post(reverse("shop:cart_update"), {"product_id": mug.pk, "quantity": 3})
    browser.post(reverse("shop:cart_update"), {"product_id": boots.pk, "remove": "1"})
    # Unchanged quantities are not news.
    browser.post(reverse("shop:cart_update"), {"product_id": mug.pk, "quantity": 3})

    changed, removed = Event.objects.filter(type="cart_updated").order_by("id")[2:]
    assert changed.properties["action"] == "changed"
    assert removed.properties["action"] == "removed"
    assert removed.properties["product_id"] == str(boots.pk)
    assert removed.properties["items"] == [
        {
            "product_id": str(mug.pk),
            "name": "Stoneware Mug",
            "quantity": 3,
            "price": 14.5,
            "category": "home",
            "url": mug.get_full_url(),
        }
    ]
    assert Event.objects.filter(type="cart_updated").count() == 4


def test_adding_an_unknown_product_is_a_404(browser: Client, shop: dict[str, Any]) -> None:
    response = browser.post(reverse("shop:cart_add"), {"product_id": 999999, "quantity": 1})

    assert response.status_code == 404
    assert not Event.objects.exists()
