"""The segment builder in a real browser: a nested segment built through the UI only, the
live count following every change, then the segment page with its members."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from wagtail_oneonone.models import ConsentStatus, Contact, Event, Segment, SegmentCount

from .conftest import browser_unavailable

_reason = browser_unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = "[data-path='rules']"


@pytest.fixture
def shoppers(transactional_db: None) -> dict[str, Contact]:
    """Five contacts: two subscribed (one ordered), two carts, one with nothing."""
    now = timezone.now()

    def contact(name: str, consent: str, *events: str) -> Contact:
        person = Contact.objects.create(
            email=f"{name}@example.com", first_name=name.capitalize(), consent_status=consent
        )
        for hours, kind in enumerate(events, start=1):
            Event.objects.create(
                contact=person,
                type=kind,
                occurred_at=now - dt.timedelta(hours=hours),
                properties={"items": [{"product_id": "p1", "quantity": 1}]},
            )
        return person

    return {
        "ada": contact("ada", ConsentStatus.SUBSCRIBED, "cart_updated"),
        "bob": contact("bob", ConsentStatus.SUBSCRIBED, "order_placed"),
        "cy": contact("cy", ConsentStatus.UNSUBSCRIBED, "cart_updated"),
        "dee": contact("dee", ConsentStatus.NONE),
        "eve": contact("eve", ConsentStatus.UNSUBSCRIBED),
    }


def expect_count(page: Any, count: int, *, complete: bool = True) -> None:
    """Waits until the live count says ``count`` (after the debounce and the request)."""
    from playwright.sync_api import expect

    status = page.locator("[data-oneonone-count]")
    expect(status).to_have_attribute("data-state", "ready")
    expect(status).to_have_attribute("data-count", str(count))
    expect(status).to_have_attribute("data-complete", "true" if complete else "false")


def test_build_a_nested_segment_and_open_its_page(
    logged_in: Callable[[str], Any], shoppers: dict[str, Contact]
) -> None:
    from playwright.sync_api import expect

    # Through the menu to a new segment.
    page = logged_in("/admin/oneonone_suppression/")
    page.get_by_role("button", name="One-to-one").click()
    page.get_by_role("link", name="Segments", exact=True).click()
    page.wait_for_url("**/admin/oneonone_segment/")
    page.get_by_role("link", name="Add segment").first.click()
    page.wait_for_url("**/admin/oneonone_segment/new/")

    # No rules: everyone matches.
    expect_count(page, 5)
    expect(page.locator(ROOT)).to_contain_text("No rules yet")

    # A group, switched to "any": empty, so it is named as unfinished and left out.
    root = page.locator(ROOT)
    root.get_by_role("button", name="Add group").last.click()
    group = page.locator("[data-path='rules.all[0]']")
    expect(group.locator("[data-oneonone-group-kind]")).to_be_focused()
    group.get_by_label("Match").select_option("any")
    expect_count(page, 5, complete=False)
    expect(group.locator(".error-message").first).to_contain_text("This group is empty")

    # "Consent" in it, with nothing ticked yet: the missing status is named beside it.
    group.get_by_label("Condition").select_option(label="Consent")
    group.get_by_role("button", name="Add condition").click()
    consent = page.locator("[data-path='rules.all[0].any[0]']")
    expect(consent).to_contain_text("Consent")
    expect_count(page, 5, complete=False)
    expect(consent.locator(".error-message")).to_have_text("Status is required")
    expect(page.locator("[data-oneonone-problem-list]")).to_contain_text(
        "Rule 1.1 » Consent » Status: is required"
    )
    consent.get_by_label("Subscribed", exact=True).check()
    expect_count(page, 2)
    sample = page.locator("[data-oneonone-sample-list]")
    expect(sample).to_contain_text("ada@example.com")
    expect(sample).to_contain_text("bob@example.com")

    # Or updated their cart: with the keyboard, from the condition menu.
    picker = group.locator("[data-oneonone-condition-picker]").last
    picker.select_option("event")
    picker.press("Tab")
    page.keyboard.press("Enter")
    cart = page.locator("[data-path='rules.all[0].any[1]']")
    expect(cart.get_by_label("Event", exact=True)).to_be_focused()
    expect_count(page, 2, complete=False)
    expect(cart.get_by_label("Event", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(cart.locator(".error-message")).to_have_text("Event is required")
    cart.get_by_label("Event", exact=True).select_option(label="Updated their cart")
    expect_count(page, 3)

    # And did not place an order: a condition at the top, negated.
    root.get_by_label("Condition").last.select_option("event")
    root.get_by_role("button", name="Add condition").last.click()
    order = page.locator("[data-path='rules.all[1]']")
    order.get_by_label("Event", exact=True).select_option(label="Placed an order")
    expect_count(page, 1)
    order.get_by_role("button", name="Negate").click()
    negated = page.locator("[data-path='rules.all[1]'][data-oneonone-not]")
    expect(negated).to_contain_text("Not")
    expect_count(page, 2)
    expect(page.locator("[data-oneonone-sample-list] li")).to_have_count(2)

    # Editing a value changes the count too: carts in the last hour only keep no one new.
    cart.get_by_label("When").select_option("last")
    amount = cart.locator("[data-path='rules.all[0].any[1].window.amount']")
    amount.fill("90")
    cart.locator("[data-path='rules.all[0].any[1].window.unit']").select_option("hours")
    expect_count(page, 2)
    amount.fill("")
    expect_count(page, 1, complete=False)
    expect(cart.locator(".error-message")).to_contain_text("is required")
    amount.fill("2")
    expect_count(page, 2)

    if os.environ.get("ONEONONE_SCREENSHOTS"):
        shots = os.environ["ONEONONE_SCREENSHOTS"]
        page.set_viewport_size({"width": 1400, "height": 3200})
        page.screenshot(path=f"{shots}/builder.png")
        page.set_viewport_size({"width": 1400, "height": 1000})

    # Name it (the slug follows the name) and save.
    page.fill("#id_name", "Warm leads")
    page.locator("#id_description").click()
    expect(page.locator("#id_slug")).to_have_value("warm-leads")
    page.get_by_role("button", name="Create").click()
    segment = Segment.objects.get(slug="warm-leads")
    page.wait_for_url(f"**/admin/oneonone_segment/inspect/{segment.pk}/")

    assert segment.rules["rules"]["all"][1] == {
        "not": {
            "condition": "event",
            "event_type": "order_placed",
            "count_operator": "at_least",
            "count": 1,
            "window": {"type": "ever"},
        }
    }
    assert SegmentCount.objects.get(segment=segment).count == 2

    # The segment page: rules in words, the count, the members and the chart.
    outline = page.locator("[data-oneonone-rules-outline]")
    expect(outline).to_contain_text("Any of:")
    expect(outline).to_contain_text("Consent: Subscribed")
    expect(outline).to_contain_text("Did something: Updated their cart at least 1 time")
    expect(outline).to_contain_text("Not:")
    expect(page.locator("[data-oneonone-segment-count]")).to_have_attribute(
        "data-oneonone-segment-count", "2"
    )
    members = page.locator("[data-oneonone-members]")
    expect(members.locator("tbody tr")).to_have_count(2)
    expect(members).to_contain_text("ada@example.com")
    expect(members).to_contain_text("cy@example.com")
    expect(page.locator("[data-oneonone-count-chart] circle")).to_have_count(1)
    if os.environ.get("ONEONONE_SCREENSHOTS"):
        page.set_viewport_size({"width": 1400, "height": 2000})
        page.screenshot(path=f"{shots}/segment-page.png")
    members.get_by_role("link", name="cy@example.com").click()
    page.wait_for_url(f"**/admin/oneonone_contact/inspect/{shoppers['cy'].pk}/")
