"""A campaign in a real browser: written through the snippet editor with a dynamic block
built in the StreamField UI, published, previewed as two contacts, then scheduled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.campaigns.conftest import EVERYONE, attribute_is, segment
from wagtail_oneonone.models import (
    Campaign,
    CampaignSend,
    CampaignStatus,
    Contact,
    EmailLayout,
    Segment,
    SendMode,
)

from .conftest import browser_unavailable

_reason = browser_unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIP_TEXT = "Early access for our VIPs"
FALLBACK_TEXT = "The autumn range is here"
SITE_ZONE = ZoneInfo("Europe/London")  # tests/settings.py TIME_ZONE


@pytest.fixture
def shop(transactional_db: None) -> dict[str, Any]:
    EmailLayout.objects.create(
        name="Oak & Thread", is_default=True, postal_address="Oak & Thread Ltd, 1 Mill Lane"
    )
    return {
        "everyone": segment("Everyone", EVERYONE),
        "vips": segment("VIPs", attribute_is("tier", "vip")),
        "vera": Contact.objects.create(
            email="vera@example.com", first_name="Vera", attributes={"tier": "vip"}
        ),
        "nadia": Contact.objects.create(email="nadia@example.com", first_name="Nadia"),
    }


def add_block(page: Any, container: Any, label: str) -> None:
    """Opens a StreamField's "Insert a block" menu inside ``container`` and picks ``label``."""
    container.locator("button.c-sf-add-button").last.click()
    page.get_by_role("option", name=label, exact=True).click()


def preview_as(page: Any, email: str) -> Any:
    from playwright.sync_api import expect

    page.fill("#oneonone-contact", email)
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.locator("[data-oneonone-preview-contact]")).to_be_visible()
    return page.frame_locator("iframe[data-oneonone-frame='desktop']")


def test_write_preview_and_schedule_a_campaign(
    logged_in: Callable[[str], Any], shop: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    # Through the menu to a new campaign.
    page = logged_in("/admin/oneonone_suppression/")
    page.get_by_role("button", name="One-to-one").click()
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.wait_for_url("**/admin/oneonone_campaign/")
    page.get_by_role("link", name="Add campaign").first.click()
    page.wait_for_url("**/admin/oneonone_campaign/add/")

    # Audience: the live count follows the ticked segments.
    page.fill("#id_name", "Autumn news")
    page.locator("#id_audience").get_by_label("Everyone").check()
    expect(page.locator("[data-oneonone-audience-count]")).to_have_attribute(
        "data-oneonone-audience-count", "2"
    )
    expect(page.locator("[data-oneonone-audience-count]")).to_contain_text("2 contacts")

    # Message.
    page.get_by_role("tab", name="Message").click()
    page.fill(
        "#id_subject", "Autumn at Oak & Thread, {{ contact.first_name|default('friend', true) }}"
    )
    page.fill("#id_preheader", "New things for you")
    page.fill("#id_reply_to", "Jo Maker <jo@shop.example>")

    # Content: a dynamic block, VIPs get one heading, everyone else another.
    page.get_by_role("tab", name="Content").click()
    add_block(page, page.locator("#panel-child-content-body-content"), "Dynamic content")
    branch = page.locator("[data-contentpath='branches']")
    page.fill("#body-0-value-branches-0-value-label", "VIPs")
    add_block(page, branch.locator("[data-contentpath='condition']"), "Contacts in a segment")
    page.select_option("#body-0-value-branches-0-value-condition-0-value", label="VIPs")
    add_block(page, branch.locator("[data-contentpath='content']"), "Heading")
    page.fill("#body-0-value-branches-0-value-content-0-value-text", VIP_TEXT)
    fallback = page.locator("[data-contentpath='fallback']")
    add_block(page, fallback, "Heading")
    page.fill("#body-0-value-fallback-0-value-text", FALLBACK_TEXT)

    # Publish.
    page.get_by_role("button", name="More actions").click()
    page.get_by_role("button", name="Publish").click()
    page.wait_for_url("**/admin/oneonone_campaign/")
    expect(page.locator(".messages")).to_contain_text("published")
    campaign = Campaign.objects.get()
    assert campaign.live
    assert [block.block_type for block in campaign.body] == ["dynamic"]

    # The campaign's row: published, to everyone, with its pages in the "More" menu.
    row = page.get_by_role("row").filter(has_text="Autumn news")
    expect(row).to_contain_text("Ready to schedule")
    expect(row).to_contain_text("Everyone")
    row.get_by_role("button", name="More options for 'Autumn news'").click()
    row.get_by_role("link", name="Preview as a contact").click()
    page.wait_for_url(f"**/admin/oneonone_campaign/preview-as/{campaign.pk}/")

    # As Vera (a VIP) and as Nadia: each gets their own branch, and the page says which.
    frame = preview_as(page, "vera@example.com")
    expect(frame.locator("body")).to_contain_text(VIP_TEXT)
    expect(frame.locator("body")).not_to_contain_text(FALLBACK_TEXT)
    expect(page.locator("[data-oneonone-subject]")).to_have_text("Autumn at Oak & Thread, Vera")
    expect(page.locator("[data-oneonone-choices]")).to_contain_text("branch 'VIPs' (segment VIPs)")
    expect(
        page.frame_locator("iframe[data-oneonone-frame='mobile']").locator("body")
    ).to_contain_text(VIP_TEXT)
    frame = preview_as(page, "nadia@example.com")
    expect(frame.locator("body")).to_contain_text(FALLBACK_TEXT)
    expect(frame.locator("body")).not_to_contain_text(VIP_TEXT)
    expect(page.locator("[data-oneonone-subject]")).to_have_text("Autumn at Oak & Thread, Nadia")
    expect(page.locator("[data-oneonone-choices]")).to_contain_text("fallback")

    # Schedule it for a time, in the site's zone, through the confirmation.
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("link", name="Send or schedule").click()
    page.wait_for_url(f"**/admin/oneonone_campaign/schedule/{campaign.pk}/")
    expect(page.locator("[data-oneonone-audience-size]")).to_contain_text("2")
    expect(page.locator("[data-oneonone-zone]")).to_contain_text("Europe/London")
    at_fields = page.locator("[data-oneonone-mode='at']")
    expect(at_fields).to_be_hidden()
    page.get_by_label("At a time").check()
    expect(at_fields).to_be_visible()
    expect(page.locator("[data-oneonone-mode='local']")).to_be_hidden()
    send_at = (timezone.now() + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    page.fill("#id_send_at", send_at.astimezone(SITE_ZONE).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("[data-oneonone-confirm]")).to_contain_text("Autumn news")
    assert not CampaignSend.objects.exists()
    page.get_by_role("button", name="Yes, schedule it").click()
    page.wait_for_url(f"**/admin/oneonone_campaign/report/{campaign.pk}/")

    # The campaign page says so, with the schedule.
    expect(page.locator("[data-oneonone-campaign-status]")).to_have_text("Scheduled")
    expect(page.locator("[data-oneonone-schedule-rows]")).to_contain_text("At a time")
    expect(page.locator("[data-oneonone-cancel]")).to_be_visible()
    send = CampaignSend.objects.get()
    assert (send.status, send.mode, send.send_at) == (
        CampaignStatus.SCHEDULED,
        SendMode.AT,
        send_at,
    )


def test_campaign_page_polls_progress_while_sending(
    logged_in: Callable[[str], Any], shop: dict[str, Any]
) -> None:
    """The progress bar and counts follow the send without reloading the page."""
    from playwright.sync_api import expect

    from tests.campaigns.conftest import make_campaign
    from wagtail_oneonone.campaigns.schedule import Schedule
    from wagtail_oneonone.campaigns.services import queue_campaign, schedule_campaign
    from wagtail_oneonone.models import OutboxMessage, OutboxStatus

    everyone: Segment = shop["everyone"]
    campaign = make_campaign(audience=[everyone])
    schedule_campaign(campaign, Schedule(mode=SendMode.NOW, send_at=timezone.now()))
    queue_campaign(campaign.pk)
    # The sync queue dispatched them at once (and skipped them: no consent); put them back
    # in the queue, due later, to watch the page follow their outcomes.
    rows = OutboxMessage.objects.filter(source_type="campaign", source_id=str(campaign.pk))
    rows.update(
        status=OutboxStatus.QUEUED,
        skip_reason="",
        scheduled_at=timezone.now() + dt.timedelta(hours=1),
    )

    page = logged_in(f"/admin/oneonone_campaign/report/{campaign.pk}/")
    expect(page.locator("[data-oneonone-campaign-status]")).to_have_text("Sending")
    expect(page.locator("[data-count='queued']")).to_have_text("2")
    OutboxMessage.objects.filter(contact=shop["vera"]).update(
        status=OutboxStatus.SENT, sent_at=timezone.now()
    )
    expect(page.locator("[data-count='sent']")).to_have_text("1")
    expect(page.locator("[data-count='queued']")).to_have_text("1")
    expect(page.locator("[data-oneonone-progress-bar]")).to_have_attribute("value", "1")
