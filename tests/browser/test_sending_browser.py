"""Templates, previews, test sends and sent messages in a real browser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from wagtail_oneonone.models import Contact, EmailTemplate, OutboxMessage, OutboxStatus

from .conftest import browser_unavailable

_reason = browser_unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def contacts(transactional_db: None) -> dict[str, Contact]:
    return {
        "ada": Contact.objects.create(email="ada@example.com", first_name="Ada"),
        "bob": Contact.objects.create(email="bob@example.com", first_name="Bob"),
    }


@pytest.fixture
def sending(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The anymail test backend; the live server's requests send through it (sync queue)."""
    from django.core import mail

    from wagtail_oneonone import tasks

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
    settings.DEFAULT_FROM_EMAIL = "Oak & Thread <shop@shop.example>"
    settings.WAGTAIL_ONEONONE = {
        "BASE_URL": "https://shop.example",
        "QUIET_HOURS": None,
        "MERGE_ON_LOGIN": False,
    }
    monkeypatch.setattr(tasks, "_last_wake", 0.0)
    mail.outbox = []
    return mail.outbox


def test_template_preview_test_send_and_sent_messages(
    logged_in: Callable[[str], Any], contacts: dict[str, Contact], sending: list[Any]
) -> None:
    # Create a template through the menu and the form. (Not from the dashboard: earlier
    # transactional tests may have flushed the page tree it needs.)
    page = logged_in("/admin/oneonone_suppression/")
    page.get_by_role("button", name="One-to-one").click()
    page.get_by_role("link", name="Email templates", exact=True).click()
    page.wait_for_url("**/admin/oneonone_email_template/")
    page.get_by_role("link", name="Add email template").first.click()
    page.fill("#id_name", "Welcome")
    page.fill("#id_subject", "Hi {{ contact.first_name }}")
    page.fill(
        "#id_html_body",
        "<h1>Hello {{ contact.first_name|default('there', true) }}</h1>"
        '<p>"Quoted" & <b>bold</b></p>'
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    )
    page.get_by_role("button", name="Create").click()
    page.wait_for_url("**/admin/oneonone_email_template/")
    template = EmailTemplate.objects.get(name="Welcome")

    # Preview from the row's "More" menu, as Ada, then as Bob.
    page.get_by_role("button", name="More options for 'Welcome'").click()
    page.get_by_role("link", name="Preview").click()
    page.wait_for_url(f"**/admin/oneonone_email_template/preview/{template.pk}/")
    for name, email in (("Ada", "ada@example.com"), ("Bob", "bob@example.com")):
        page.fill("#oneonone-contact", email)
        page.locator("[data-oneonone-contact-form] button[type=submit]").click()
        page.wait_for_selector(f"[data-oneonone-preview-contact='{contacts[name.lower()].pk}']")
        assert page.locator("[data-oneonone-subject]").inner_text() == f"Hi {name}"
        for which in ("desktop", "mobile"):
            frame = page.frame_locator(f"iframe[data-oneonone-frame={which}]")
            assert frame.locator("h1").inner_text() == f"Hello {name}"
            assert frame.locator("p").first.inner_text() == '"Quoted" & bold'
        assert f"Hello {name}" in page.locator("[data-oneonone-text]").inner_text()

    # The iframes are sandboxed: nothing in the email runs or shares the admin's origin.
    assert page.locator("iframe[sandbox='']").count() == 2

    # Send a test to me (rendered as Bob), then follow the message's link.
    page.get_by_role("button", name="Send a test to me").click()
    page.wait_for_selector("text=on its way to boss@shop.example")
    [email] = sending
    assert email.to == ["boss@shop.example"]
    assert email.subject == "[Test] Hi Bob"
    message = OutboxMessage.objects.get()
    assert message.status == OutboxStatus.SENT
    page.get_by_role("link", name="View message").click()
    page.wait_for_url(f"**/admin/oneonone_message/inspect/{message.pk}/")
    assert "sent" in page.locator("[data-oneonone-status]").inner_text().lower()
    assert "[Test] Hi Bob" in page.locator("[data-oneonone-headers]").inner_text()
    frame = page.frame_locator("iframe[data-oneonone-frame=desktop]")
    assert frame.locator("h1").inner_text() == "Hello Bob"

    # The sent messages listing, through the menu.
    page.get_by_role("button", name="One-to-one").click()
    page.get_by_role("link", name="Sent messages", exact=True).click()
    page.wait_for_url("**/admin/oneonone_message/")
    table = page.locator("table.listing")
    row = table.locator("tbody tr").first
    assert "bob@example.com" in row.inner_text()
    assert "[Test] Hi Bob" in row.inner_text()
    assert "test:" in row.inner_text()
    assert "sent" in row.inner_text().lower()
    table.get_by_role("link", name="bob@example.com").click()
    page.wait_for_url(f"**/admin/oneonone_message/inspect/{message.pk}/")
