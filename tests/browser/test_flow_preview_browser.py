"""An email step of a flow in a real browser: opened from the flow page, previewed as one
contact and then another (their own cart in the email), and sent as a test to yourself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from wagtail_oneonone.api import track
from wagtail_oneonone.flows.builtin import install_builtin
from wagtail_oneonone.models import Contact, EmailLayout, Flow, OutboxMessage

from .conftest import browser_unavailable

_reason = browser_unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cart_flow(transactional_db: None) -> Flow:
    EmailLayout.objects.create(
        name="Oak & Thread", is_default=True, postal_address="Oak & Thread Ltd, 1 Mill Lane"
    )
    flow = install_builtin("cart_abandonment")
    for email, name, item in (
        ("vera@example.com", "Vera", "Wool scarf"),
        ("nadia@example.com", "Nadia", "Silk tie"),
    ):
        Contact.objects.create(email=email, first_name=name)
        track(
            "cart_updated",
            email=email,
            properties={"items": [{"product_id": item, "name": item, "quantity": 1}]},
        )
    return flow


def preview_as(page: Any, email: str) -> Any:
    from playwright.sync_api import expect

    page.fill("#oneonone-contact", email)
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.locator("[data-oneonone-preview-contact]")).to_be_visible()
    return page.frame_locator("iframe[data-oneonone-frame='desktop']")


def test_preview_an_email_step_as_two_contacts_and_send_a_test(
    logged_in: Callable[[str], Any], cart_flow: Flow
) -> None:
    from playwright.sync_api import expect

    page = logged_in(f"/admin/oneonone_flow/inspect/{cart_flow.pk}/")
    first_email = page.locator("tr[data-kind='send_email']").first
    step_id = first_email.get_attribute("data-step")
    first_email.get_by_role("link", name="Preview").click()
    page.wait_for_url(f"**/admin/oneonone_flow/preview/{cart_flow.pk}/{step_id}/")

    frame = preview_as(page, "vera@example.com")
    expect(page.locator("[data-oneonone-subject]")).to_have_text("Vera, your basket is waiting")
    expect(frame.locator("body")).to_contain_text("Wool scarf")
    expect(page.locator("[data-oneonone-trigger-event]")).to_contain_text("trigger")
    expect(
        page.frame_locator("iframe[data-oneonone-frame='mobile']").locator("body")
    ).to_contain_text("Wool scarf")
    expect(page.locator("[data-oneonone-text]")).to_contain_text("Wool scarf")

    frame = preview_as(page, "nadia@example.com")
    expect(page.locator("[data-oneonone-subject]")).to_have_text("Nadia, your basket is waiting")
    expect(frame.locator("body")).to_contain_text("Silk tie")
    expect(frame.locator("body")).not_to_contain_text("Wool scarf")

    page.get_by_role("button", name="Send a test to me").click()
    expect(page.locator(".messages")).to_contain_text("on its way to boss@shop.example")
    expect(page.locator("[data-oneonone-subject]")).to_have_text("Nadia, your basket is waiting")
    message = OutboxMessage.objects.get()
    assert message.source_type == "test"
    assert message.contact.email == "nadia@example.com"
    assert message.context["deliver_to"] == "boss@shop.example"
