from __future__ import annotations

import pytest
from django.urls import reverse

from wagtail_oneonone.contacts.services import set_consent
from wagtail_oneonone.models import Contact
from wagtail_oneonone.tracking.tokens import make_token


@pytest.fixture
def contact(db: None) -> Contact:
    contact = Contact.objects.create(email="ada@example.com", first_name="Ada")
    set_consent(contact, "subscribed", source="checkout", where="/checkout/")
    return contact


def unsubscribe_path(contact_id: int, message_id: int | None = None) -> str:
    token = make_token(contact_id, "unsubscribe", message_id)
    return reverse("wagtail_oneonone:unsubscribe", args=[token])


def preferences_path(contact_id: int, message_id: int | None = None) -> str:
    token = make_token(contact_id, "preferences", message_id)
    return reverse("wagtail_oneonone:preferences", args=[token])


def assert_private(response: object) -> None:
    assert response["Cache-Control"] == "no-store"  # type: ignore[index]
    assert "noindex" in response["X-Robots-Tag"]  # type: ignore[index]
    assert response["Referrer-Policy"] == "no-referrer"  # type: ignore[index]
    assert response["X-Frame-Options"] == "DENY"  # type: ignore[index]
