"""Flows in a real browser: one built in the editor (the trigger's fields following the
chosen trigger, a wait and an email added through the StreamField UI, a validation error
shown, then saved active), and the flow page of a flow contacts went through, paused and
resumed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from wagtail_oneonone.models import (
    Contact,
    EmailLayout,
    Enrollment,
    EnrollmentStatus,
    Flow,
    FlowStatus,
    Reentry,
    TriggerType,
)

from .conftest import browser_unavailable

_reason = browser_unavailable()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ITEMS = [{"product_id": "scarf", "name": "Wool scarf", "quantity": 1, "price": 25}]


def add_block(page: Any, container: Any, label: str) -> None:
    """Opens a StreamField's "Insert a block" menu inside ``container`` and picks ``label``."""
    container.locator("button.c-sf-add-button").last.click()
    page.get_by_role("option", name=label, exact=True).click()


def test_build_a_flow_in_the_editor(logged_in: Callable[[str], Any]) -> None:
    from playwright.sync_api import expect

    page = logged_in("/admin/oneonone_flow/")
    page.get_by_role("link", name="Add flow").first.click()
    page.wait_for_url(f"**{reverse('oneonone_flow:add')}")

    # Only the chosen trigger's fields show.
    event_fields = page.locator(".oneonone-trigger--event")
    date_fields = page.locator(".oneonone-trigger--date")
    expect(event_fields).to_be_visible()
    expect(date_fields).to_be_hidden()
    page.get_by_label("A date of the contact's comes round").check()
    expect(date_fields).to_be_visible()
    expect(event_fields).to_be_hidden()
    expect(page.locator(".oneonone-date-attribute")).to_be_hidden()
    page.select_option("#id_trigger_date_field", "attribute")
    expect(page.locator(".oneonone-date-attribute")).to_be_visible()
    page.get_by_label("The contact did something (an event)").check()
    expect(event_fields).to_be_visible()
    expect(date_fields).to_be_hidden()

    page.fill("#id_name", "Cart reminder")
    page.select_option("#id_status", "active")
    page.select_option("#id_trigger_event_type", "cart_updated")

    # Who and when: again after some days (the days field appears with it), a goal.
    page.get_by_role("tab", name="Who and when").click()
    expect(page.locator(".oneonone-reentry-days")).to_be_hidden()
    page.select_option("#id_reentry", "every_n_days")
    expect(page.locator(".oneonone-reentry-days")).to_be_visible()
    page.select_option("#id_goal_event_type", "order_placed")

    page.get_by_role("tab", name="Email").click()
    page.fill("#id_reply_to", "Jo Maker <jo@shop.example>")

    # Steps: a wait of two hours, then an email, through the StreamField UI.
    page.get_by_role("tab", name="Steps").click()
    steps = page.locator("#panel-child-steps-steps-content")
    add_block(page, steps, "Wait")
    page.fill("#steps-0-value-amount", "2")
    page.select_option("#steps-0-value-unit", "hours")
    add_block(page, steps, "Send an email")
    page.fill(
        "#steps-1-value-subject", "{{ contact.first_name|default('Hi', true) }}, your basket"
    )
    add_block(page, page.locator("[data-contentpath='body']"), "Heading")
    page.fill("#steps-1-value-body-0-value-text", "You left something behind")

    # Saved without the days: refused, and the error is shown on its field and tab.
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".messages")).to_contain_text("could not be created")
    assert not Flow.objects.exists()
    page.get_by_role("tab", name="Who and when").click()
    days_error = page.locator(".oneonone-reentry-days .error-message")
    expect(days_error).to_contain_text("Say how many days (1 to 365)")
    # The form came back as it was: the fields shown follow the saved choices.
    expect(page.locator(".oneonone-reentry-days")).to_be_visible()
    page.fill("#id_reentry_days", "7")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url("**/admin/oneonone_flow/")
    expect(page.locator(".messages")).to_contain_text("Cart reminder")

    flow = Flow.objects.get()
    assert (flow.status, flow.trigger_type, flow.trigger_event_type) == (
        FlowStatus.ACTIVE,
        TriggerType.EVENT,
        "cart_updated",
    )
    assert (flow.reentry, flow.reentry_days, flow.goal_event_type) == (
        Reentry.EVERY_N_DAYS,
        7,
        "order_placed",
    )
    assert [child.block_type for child in flow.steps] == ["wait", "send_email"]
    assert flow.steps[0].value["amount"] == 2
    assert flow.steps[1].value["body"][0].value["text"] == "You left something behind"

    row = page.get_by_role("row").filter(has_text="Cart reminder")
    expect(row).to_contain_text("When someone updates their cart")
    expect(row).to_contain_text("Active")


@pytest.fixture
def cart_flow_with_shoppers(transactional_db: None, settings: Any) -> Flow:
    """The cart flow after three shoppers: two waiting for the reminder, one who got it and
    waits for the incentive."""
    from tests.flows.conftest import cart_flow
    from tests.sending.conftest import subscribed
    from wagtail_oneonone.api import track
    from wagtail_oneonone.flows.services import advance_due
    from wagtail_oneonone.flows.triggers import match_new_events
    from wagtail_oneonone.sending.dispatch import dispatch_due

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
    settings.WAGTAIL_ONEONONE = {
        "BASE_URL": "https://shop.example",
        "QUIET_HOURS": None,
        "MERGE_ON_LOGIN": False,
    }
    EmailLayout.objects.create(name="Oak & Thread", is_default=True, postal_address="1 Mill Lane")
    flow = cart_flow()
    start = timezone.now() - dt.timedelta(hours=10)

    def run(at: dt.datetime) -> None:
        match_new_events(now=at)
        advance_due(now=at)
        dispatch_due(clock=lambda: at)

    def cart(email: str, at: dt.datetime) -> None:
        subscribed(email, first_name=email.split("@")[0].title())
        track("cart_updated", email=email, occurred_at=at, properties={"items": ITEMS})

    cart("sam@example.com", start)
    run(start)
    run(start + dt.timedelta(hours=2))
    later = timezone.now() - dt.timedelta(minutes=30)
    cart("ana@example.com", later)
    cart("lou@example.com", later)
    run(later)
    return flow


def test_the_flow_page_counts_steps_and_pauses_and_resumes(
    logged_in: Callable[[str], Any], cart_flow_with_shoppers: Flow
) -> None:
    from playwright.sync_api import expect

    flow = cart_flow_with_shoppers
    assert Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE).count() == 3

    # From the listing's "More" menu to the flow page.
    page = logged_in("/admin/oneonone_flow/")
    row = page.get_by_role("row").filter(has_text="Cart abandonment")
    expect(row).to_contain_text("When someone updates their cart")
    row.get_by_role("button", name="More options for 'Cart abandonment'").click()
    row.get_by_role("link", name="Flow page").click()
    page.wait_for_url(f"**/admin/oneonone_flow/inspect/{flow.pk}/")

    expect(page.locator("[data-oneonone-flow-status]")).to_have_text("Active")
    expect(page.locator("[data-oneonone-trigger]")).to_have_text("When someone updates their cart")
    expect(page.locator("[data-step='w2h'] [data-active]")).to_have_text("2")
    expect(page.locator("[data-step='w24h'] [data-active]")).to_have_text("1")
    reminder = page.locator("[data-step='reminder']")
    expect(reminder.locator("[data-count='sent']")).to_have_text("1")
    expect(page.locator("[data-oneonone-totals] [data-count='entered']")).to_have_text("3")
    expect(page.locator("[data-oneonone-flow-chart]")).to_be_visible()
    expect(page.locator("[data-oneonone-latest]")).to_contain_text("ana@example.com")

    # What the reminder sent, in the sent messages listing.
    reminder.get_by_role("link", name="See the messages").click()
    page.wait_for_url("**/admin/oneonone_message/?source_type=flow*")
    expect(page.get_by_role("row").filter(has_text="sam@example.com")).to_be_visible()
    page.go_back()

    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".messages")).to_contain_text("is paused")
    expect(page.locator("[data-oneonone-flow-status]")).to_have_text("Paused")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    flow.refresh_from_db()
    assert flow.status == FlowStatus.PAUSED

    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".messages")).to_contain_text("is active again")
    expect(page.locator("[data-oneonone-flow-status]")).to_have_text("Active")
    flow.refresh_from_db()
    assert flow.status == FlowStatus.ACTIVE

    # The contact's timeline shows the flow.
    sam = Contact.objects.get(email="sam@example.com")
    page.goto(page.url.split("/admin/")[0] + f"/admin/oneonone_contact/inspect/{sam.pk}/")
    timeline = page.locator("[data-oneonone-timeline]")
    expect(timeline.locator("[data-flow-action='entered']")).to_contain_text("Cart abandonment")
    expect(timeline.locator("[data-flow-action='sent']")).to_contain_text("your basket is waiting")


def test_every_built_in_flow_installs_and_saves_active_unchanged(
    logged_in: Callable[[str], Any],
) -> None:
    """One click each, then the editor saves them as they came (but active): the built-ins
    pass the editor's validation."""
    from playwright.sync_api import expect

    from wagtail_oneonone.flows.builtin import BUILTIN_FLOWS

    page = logged_in(reverse("oneonone_flow:builtins"))
    for builtin in BUILTIN_FLOWS:
        page.goto(page.url.split("/admin/")[0] + reverse("oneonone_flow:builtins"))
        page.get_by_role("button", name=f"Install {builtin.name}", exact=True).click()
        flow = Flow.objects.get(builtin=builtin.key)
        page.wait_for_url(f"**{reverse('oneonone_flow:edit', args=[flow.pk])}")
        expect(page.locator(".messages")).to_contain_text("installed as a draft")
        page.select_option("#id_status", "active")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".messages")).to_contain_text(builtin.name)
        expect(page.locator(".messages")).not_to_contain_text("could not be saved")
        flow.refresh_from_db()
        assert flow.status == FlowStatus.ACTIVE, builtin.key
    assert Flow.objects.filter(status=FlowStatus.ACTIVE).count() == len(BUILTIN_FLOWS)
