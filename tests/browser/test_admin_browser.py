"""The contacts admin in a real browser: listing, contact page and the CSV import wizard."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from wagtail_oneonone.contacts.services import set_consent
from wagtail_oneonone.models import ConsentStatus, Contact, ContactImport, Event

from .conftest import browser_unavailable

_reason = browser_unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shoppers(transactional_db: None) -> dict[str, Contact]:
    ada = Contact.objects.create(
        email="ada@example.com", first_name="Ada", last_name="Lovelace", time_zone="Europe/Paris"
    )
    bob = Contact.objects.create(email="bob@example.com", first_name="Bob")
    set_consent(ada, ConsentStatus.SUBSCRIBED, source="checkout box", where="/checkout/")
    now = timezone.now()
    Event.objects.create(
        contact=ada,
        type="product_viewed",
        occurred_at=now - dt.timedelta(hours=2),
        properties={"product_id": "p1", "name": "Blue Mug", "url": "https://shop.example/mug"},
    )
    Event.objects.create(
        contact=ada,
        type="order_placed",
        occurred_at=now - dt.timedelta(hours=1),
        value=Decimal("24.50"),
        currency="GBP",
        properties={
            "order_id": "ORD-77",
            "total": 24.5,
            "items": [{"product_id": "p1", "name": "Blue Mug", "quantity": 2}],
        },
    )
    return {"ada": ada, "bob": bob}


def test_contacts_listing_through_the_menu(
    logged_in: Callable[[str], Any], shoppers: dict[str, Contact]
) -> None:
    page = logged_in("/admin/")
    page.get_by_role("button", name="One-to-one").click()
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.wait_for_url("**/admin/oneonone_contact/")
    table = page.locator("table.listing")
    assert table.get_by_role("link", name="ada@example.com").is_visible()
    assert table.get_by_role("link", name="bob@example.com").is_visible()
    assert table.get_by_text("Subscribed").is_visible()

    # The listing's own search box (not the sidebar's page search) filters as you type.
    page.fill("form[data-search-form] input[name=q]", "lovelace")
    page.wait_for_function(
        "() => !document.querySelector('table.listing')?.innerText.includes('bob@example.com')"
    )
    assert page.locator("table.listing").get_by_text("ada@example.com").is_visible()


def test_contact_page_shows_timeline_and_consent_history(
    logged_in: Callable[[str], Any], shoppers: dict[str, Contact]
) -> None:
    page = logged_in("/admin/oneonone_contact/")
    page.locator("table.listing").get_by_role("link", name="ada@example.com").click()
    page.wait_for_url(f"**/admin/oneonone_contact/inspect/{shoppers['ada'].pk}/")

    timeline = page.locator("[data-oneonone-timeline]")
    rows = timeline.locator("tbody tr")
    assert rows.count() == 2
    assert "Placed an order" in rows.nth(0).inner_text()  # newest first
    assert "24.50 GBP" in rows.nth(0).inner_text()
    assert "ORD-77" in rows.nth(0).inner_text()
    assert "Viewed a product" in rows.nth(1).inner_text()
    assert "Blue Mug" in rows.nth(1).inner_text()

    history = page.locator("[data-oneonone-consent-history] tbody tr")
    assert history.count() == 1
    assert "checkout box" in history.first.inner_text()

    # Change consent through the form: the history grows by one audited row.
    page.select_option("#id_status", "unsubscribed")
    page.fill("#id_source", "Asked by phone")
    page.get_by_role("button", name="Change consent").click()
    page.wait_for_selector("text=Consent changed")
    history = page.locator("[data-oneonone-consent-history] tbody tr")
    assert history.count() == 2
    assert "Asked by phone" in history.first.inner_text()
    assert page.locator("[data-oneonone-suppressed]").is_visible()


def test_csv_import_wizard(logged_in: Callable[[str], Any], shoppers: dict[str, Contact]) -> None:
    page = logged_in("/admin/oneonone_contact_import/")
    page.get_by_role("link", name="Import a CSV file").first.click()
    page.wait_for_url("**/admin/oneonone_contact_import/new/")

    csv_data = (
        b"Email,First name,Shoe size\n"
        b"nia@example.com,Nia,39\n"
        b"BOB@example.com,Robert,44\n"
        b"not-an-address,Oops,1\n"
    )
    page.set_input_files(
        "input[type=file]", {"name": "fair.csv", "mimeType": "text/csv", "buffer": csv_data}
    )
    page.check("input[name=consent_status][value=subscribed]")
    page.fill("#id_consent_source", "Sign-up sheet at the craft fair")
    page.get_by_role("button", name="Upload and map columns").click()

    page.wait_for_url("**/mapping/")
    mapping = page.locator("[data-oneonone-mapping]")
    assert "nia@example.com" in mapping.inner_text()
    assert page.input_value("#id_column_0") == "email"
    assert page.input_value("#id_column_1") == "first_name"
    page.select_option("#id_column_2", "attribute:shoe_size")
    page.get_by_role("button", name="Start import").click()

    page.wait_for_selector("[data-import-summary]")
    assert page.locator("[data-count=created]").inner_text() == "1"
    assert page.locator("[data-count=updated]").inner_text() == "1"
    assert page.locator("[data-count=errors]").inner_text() == "1"
    assert "not a valid email" in page.locator("[data-import-errors]").inner_text()
    assert page.locator("progress").get_attribute("value") == "3"

    page.goto(page.url.split("/admin/")[0] + "/admin/oneonone_contact/")
    listing = page.locator("table.listing")
    assert listing.get_by_role("link", name="nia@example.com").is_visible()
    nia = Contact.objects.get(email="nia@example.com")
    assert nia.consent_status == ConsentStatus.SUBSCRIBED
    assert nia.attributes == {"shoe_size": "39"}
    assert Contact.objects.get(email="bob@example.com").first_name == "Robert"


def test_progress_page_polls_until_the_import_finishes(
    logged_in: Callable[[str], Any], transactional_db: None
) -> None:
    contact_import = ContactImport.objects.create(
        original_name="big.csv",
        consent_status="none",
        consent_source="old shop",
        status=ContactImport.Status.RUNNING,
        total_rows=1000,
        processed_rows=300,
    )
    page = logged_in(f"/admin/oneonone_contact_import/{contact_import.pk}/")
    assert page.locator("progress").get_attribute("value") == "300"
    assert page.locator("[data-import-summary]").count() == 0

    # The worker moves on: the page's once-a-second poll picks it up.
    ContactImport.objects.filter(pk=contact_import.pk).update(processed_rows=700)
    page.wait_for_function("() => document.querySelector('progress').value === 700")
    assert "700" in page.locator("[data-progress-text]").inner_text()

    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ContactImport.Status.DONE, processed_rows=1000, created_count=990, error_count=10
    )
    page.wait_for_selector("[data-import-summary]")  # reloaded with the summary
    assert page.locator("[data-count=created]").inner_text() == "990"


def test_cancelling_an_upload_deletes_it(
    logged_in: Callable[[str], Any], transactional_db: None
) -> None:
    page = logged_in("/admin/oneonone_contact_import/new/")
    page.set_input_files(
        "input[type=file]",
        {"name": "list.csv", "mimeType": "text/csv", "buffer": b"email\nann@example.com\n"},
    )
    page.fill("#id_consent_source", "Old newsletter list")
    page.get_by_role("button", name="Upload and map columns").click()
    page.wait_for_url("**/mapping/")
    assert ContactImport.objects.count() == 1

    page.locator("footer [data-w-dropdown-target=toggle]").click()
    page.get_by_role("button", name="Cancel and delete the upload").click()
    page.wait_for_url("**/admin/oneonone_contact_import/")
    assert not ContactImport.objects.exists()
    assert not Contact.objects.exists()
