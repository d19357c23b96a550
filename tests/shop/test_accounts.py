"""Sign-up goes through the app's signals; log-in merges the browser's history."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from wagtail_oneonone.models import ConsentChange, Contact, Event

from .conftest import visitor_id

SIGN_UP = {
    "email": "Sam.Lee@example.com",
    "first_name": "Sam",
    "password1": "a-long-demo-passphrase",
    "password2": "a-long-demo-passphrase",
    "marketing_consent": "on",
    "time_zone": "Asia/Tokyo",
}


def test_sign_up_creates_user_contact_and_event(browser: Client, shop: dict[str, Any]) -> None:
    browser.get(shop["boots"].url)
    visitor = visitor_id(browser)

    response = browser.post(reverse("shop:signup"), SIGN_UP)

    assert response.status_code == 302
    user = get_user_model().objects.get(email="sam.lee@example.com")
    assert user.username == "sam.lee@example.com"
    assert int(browser.session["_auth_user_id"]) == user.pk
    contact = Contact.objects.get(email="sam.lee@example.com")
    assert contact.user == user
    assert contact.first_name == "Sam"
    assert contact.source == "sign-up"
    assert contact.time_zone == "Asia/Tokyo"
    assert contact.consent_status == "subscribed"
    assert ConsentChange.objects.get(contact=contact).source == "sign-up form"
    signed_up = Event.objects.get(type="signed_up")
    assert signed_up.contact == contact
    assert signed_up.properties == {"source": "shop", "form": "sign-up"}
    assert Event.objects.get(type="product_viewed", visitor_id=visitor).contact == contact


def test_sign_up_refuses_a_taken_address(browser: Client, shop: dict[str, Any]) -> None:
    get_user_model().objects.create_user("sam", email="sam.lee@example.com")

    response = browser.post(reverse("shop:signup"), SIGN_UP)

    assert response.status_code == 200
    assert b"already exists" in response.content
    assert not Event.objects.filter(type="signed_up").exists()


def test_logging_in_merges_the_anonymous_history(browser: Client, shop: dict[str, Any]) -> None:
    user = get_user_model().objects.create_user(
        "pat@example.com", email="pat@example.com", password="a-long-demo-passphrase"
    )
    browser.get(shop["mug"].url)

    response = browser.post(
        reverse("shop:login"),
        {"username": "pat@example.com", "password": "a-long-demo-passphrase"},
    )

    assert response.status_code == 302
    view = Event.objects.get(type="product_viewed")
    assert view.contact == Contact.objects.get(user=user)
    # Log-out is a POST (Django 5) and forgets the identified contact.
    assert browser.post(reverse("shop:logout")).status_code == 302


def test_the_newsletter_form_subscribes_and_records_the_sign_up(
    browser: Client, shop: dict[str, Any]
) -> None:
    browser.get(shop["mug"].url)

    response = browser.post(
        reverse("shop:newsletter"), {"email": "Kim@Example.org"}, HTTP_REFERER="http://testserver/"
    )

    assert response.status_code == 302
    assert response["Location"] == "http://testserver/"
    contact = Contact.objects.get(email="kim@example.org")
    assert (contact.source, contact.consent_status, contact.consent_source) == (
        "newsletter",
        "subscribed",
        "newsletter form",
    )
    assert Event.objects.get(type="signed_up").properties == {
        "source": "footer",
        "form": "newsletter",
    }
    assert Event.objects.get(type="product_viewed").contact == contact


def test_log_in_accepts_the_address_in_any_case(browser: Client, shop: dict[str, Any]) -> None:
    get_user_model().objects.create_user(
        "pat@example.com", email="pat@example.com", password="a-long-demo-passphrase"
    )

    response = browser.post(
        reverse("shop:login"),
        {"username": " Pat@Example.com", "password": "a-long-demo-passphrase"},
    )

    assert response.status_code == 302
