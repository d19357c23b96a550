"""Checkout: the order, the contact it identifies, consent and the merged history."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from example_site.shop.models import Order
from wagtail_oneonone.models import ConsentChange, Contact, Event

from .conftest import BROWSER, visitor_id

CHECKOUT = {
    "email": "Jane.Doe@Example.com",
    "first_name": "Jane",
    "last_name": "Doe",
    "time_zone": "Europe/Berlin",
    "locale": "de-DE",
}


def fill_cart(client: Client, shop: dict[str, Any]) -> None:
    client.get(shop["boots"].url)
    client.post(reverse("shop:cart_add"), {"product_id": shop["boots"].pk, "quantity": 1})
    client.post(reverse("shop:cart_add"), {"product_id": shop["mug"].pk, "quantity": 2})


def test_checkout_page_records_checkout_started(browser: Client, shop: dict[str, Any]) -> None:
    fill_cart(browser, shop)

    response = browser.get(reverse("shop:checkout"))

    assert response.status_code == 200
    started = Event.objects.get(type="checkout_started")
    assert started.visitor_id == visitor_id(browser)
    assert started.value == Decimal("149.00")
    assert len(started.properties["items"]) == 2


def test_empty_cart_cannot_check_out(browser: Client, shop: dict[str, Any]) -> None:
    response = browser.post(reverse("shop:checkout"), CHECKOUT)

    assert response.status_code == 302
    assert response["Location"] == reverse("shop:cart")
    assert not Order.objects.exists()


def test_placing_an_order_records_it_on_the_contact_with_earlier_events(
    browser: Client, shop: dict[str, Any]
) -> None:
    fill_cart(browser, shop)
    browser.get(reverse("shop:checkout"))
    visitor = visitor_id(browser)
    anonymous = set(Event.objects.filter(visitor_id=visitor).values_list("id", flat=True))

    response = browser.post(reverse("shop:checkout"), CHECKOUT)

    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("shop:order_confirmation", args=[order.number])
    assert order.email == "Jane.Doe@Example.com"
    assert order.subtotal == Decimal("149.00")
    assert order.shipping == Decimal("0.00")  # free from £50
    assert order.total == Decimal("149.00")
    assert [(line.name, line.quantity) for line in order.lines.all()] == [
        ("Fellside Walking Boots", 1),
        ("Stoneware Mug", 2),
    ]
    contact = Contact.objects.get(email="jane.doe@example.com")
    assert contact.first_name == "Jane"
    assert contact.time_zone == "Europe/Berlin"
    assert contact.locale == "de-DE"
    assert contact.customer_since is not None
    placed = Event.objects.get(type="order_placed")
    assert placed.contact == contact
    assert placed.value == Decimal("149.00")
    assert placed.dedup_key == f"order-{order.number}"
    assert placed.properties["order_id"] == order.number
    assert len(placed.properties["items"]) == 2
    # The anonymous product view, cart changes and checkout start joined the contact.
    assert len(anonymous) == 5
    assert set(contact.events.values_list("id", flat=True)) >= anonymous
    assert not Event.objects.filter(contact__isnull=True).exists()
    # The cart is empty and the confirmation is the buyer's alone.
    assert browser.get(reverse("shop:cart")).context["cart"].count == 0
    confirmation = browser.get(response["Location"])
    assert confirmation.status_code == 200
    assert order.number.encode() in confirmation.content
    assert Client(HTTP_USER_AGENT=BROWSER).get(response["Location"]).status_code == 404


def test_later_browsing_is_recorded_against_the_contact(
    browser: Client, shop: dict[str, Any]
) -> None:
    fill_cart(browser, shop)
    browser.post(reverse("shop:checkout"), CHECKOUT)

    browser.get(shop["mug"].url)

    view = Event.objects.filter(type="product_viewed").latest("id")
    assert view.contact == Contact.objects.get(email="jane.doe@example.com")


@pytest.mark.parametrize(("ticked", "status"), [(True, "subscribed"), (False, "none")])
def test_the_consent_box_decides_subscription(
    browser: Client, shop: dict[str, Any], ticked: bool, status: str
) -> None:
    fill_cart(browser, shop)
    data = {**CHECKOUT, "marketing_consent": "on"} if ticked else CHECKOUT

    browser.post(reverse("shop:checkout"), data)

    contact = Contact.objects.get(email="jane.doe@example.com")
    assert contact.consent_status == status
    changes = ConsentChange.objects.filter(contact=contact)
    if ticked:
        assert contact.consent_source == "checkout"
        assert contact.consent_where.endswith(reverse("shop:checkout"))
        change = changes.get()
        assert (change.previous_status, change.status, change.source) == (
            "none",
            "subscribed",
            "checkout",
        )
    else:
        assert not changes.exists()


def test_an_unticked_box_does_not_unsubscribe_a_subscriber(
    browser: Client, shop: dict[str, Any]
) -> None:
    fill_cart(browser, shop)
    browser.post(reverse("shop:checkout"), {**CHECKOUT, "marketing_consent": "on"})
    fill_cart(browser, shop)

    browser.post(reverse("shop:checkout"), CHECKOUT)

    assert Order.objects.count() == 2
    assert Contact.objects.get(email="jane.doe@example.com").consent_status == "subscribed"
    assert Event.objects.filter(type="order_placed").count() == 2


def test_a_logged_in_buyer_gets_the_order_on_their_account(
    browser: Client, shop: dict[str, Any]
) -> None:
    user = get_user_model().objects.create_user(
        "jane", email="jane.doe@example.com", password="pw-12345-long"
    )
    browser.force_login(user)
    fill_cart(browser, shop)

    browser.post(reverse("shop:checkout"), CHECKOUT)

    order = Order.objects.get()
    assert order.user == user
    assert Contact.objects.get(email="jane.doe@example.com").user == user
