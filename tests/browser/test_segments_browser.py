"""The segment builder in a real browser: a nested segment built through the UI only, the
live count following every change, then the segment page with its members."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
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


@pytest.fixture
def host_condition() -> Any:
    """A site's own condition with one parameter of each plain kind."""
    from django.db.models import Q

    from wagtail_oneonone.segments import Param, register_condition
    from wagtail_oneonone.segments.conditions import unregister_condition

    @register_condition(
        "shoe_size",
        label="Shoe size",
        group="Our shop",
        params=[
            Param("size", "number", min_value=0),
            Param("since", "date", required=False),
            Param("brands", "texts", required=False),
            Param("wide", "bool", default=False),
            Param("note", "text", required=False),
        ],
    )
    def shoe_size(params: Any, context: Any) -> Q:
        return Q(attributes__shoe_size__gte=params["size"])

    yield
    unregister_condition("shoe_size")


def rules_json(page: Any) -> Any:
    return json.loads(page.eval_on_selector("#id_rules", "input => input.value"))


def test_every_condition_and_every_kind_of_input(
    logged_in: Callable[[str], Any], shoppers: dict[str, Contact], host_condition: None
) -> None:
    from playwright.sync_api import expect

    from wagtail_oneonone.segments import registered_conditions

    errors: list[str] = []
    page = logged_in("/admin/oneonone_segment/new/")
    page.on("pageerror", lambda error: errors.append(str(error)))
    expect_count(page, 5)
    root = page.locator(ROOT)
    picker = root.locator("[data-oneonone-condition-picker]").last

    # Every registered condition is offered, under its group, and can be added.
    names = [condition.name for condition in registered_conditions()]
    offered = picker.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert offered[1:] == sorted(names, key=lambda name: offered.index(name))
    assert set(offered[1:]) == set(names)
    assert picker.locator("optgroup[label='Our shop'] option").inner_text() == "Shoe size"
    for index, name in enumerate(names):
        picker.select_option(name)
        root.get_by_role("button", name="Add condition").last.click()
        expect(page.locator(f"[data-path='rules.all[{index}]']")).to_have_attribute(
            "data-oneonone-condition", name
        )
    expect(page.locator("[data-oneonone-condition]")).to_have_count(len(names))
    # Most need something filled in first; those with defaults (suppressed, birthday soon) match
    # no one here.
    expect_count(page, 0, complete=False)
    assert errors == []

    # Remove them all again, each by its own button.
    for index in reversed(range(len(names))):
        page.locator(
            f"[data-path='rules.all[{index}]'] [data-key='rules.all[{index}]|remove']"
        ).click()
    expect(page.locator("[data-oneonone-condition]")).to_have_count(0)
    expect_count(page, 5)

    def add(name: str) -> Any:
        picker.select_option(name)
        root.get_by_role("button", name="Add condition").last.click()
        count = page.locator(f"{ROOT} > .oneonone-group__items > li").count()
        return page.locator(f"[data-path='rules.all[{count - 1}]']")

    # A custom attribute: the type decides the operators, the operator the value inputs.
    attribute = add("attribute")
    attribute.get_by_label("Attribute").fill("shoe_size")
    attribute.get_by_label("Type").select_option("number")
    operators = attribute.get_by_label("Operator").locator("option")
    expect(operators).to_contain_text(["Choose…", "is", "is not", "is more than"])
    attribute.get_by_label("Operator").select_option(label="is between")
    attribute.locator("[data-path='rules.all[0].value[0]']").fill("36")
    attribute.get_by_label("and", exact=True).fill("40")
    expect_count(page, 0)
    attribute.get_by_label("Type").select_option("bool")
    attribute.get_by_label("Operator").select_option(label="is yes")
    expect(attribute.locator("[data-path='rules.all[0].value']")).to_have_count(0)
    assert rules_json(page)["rules"]["all"][0] == {
        "condition": "attribute",
        "attribute": "shoe_size",
        "type": "bool",
        "operator": "is_true",
    }
    attribute.get_by_role("button", name="Remove").click()

    # A contact field that is a date: date inputs; a list of names: one per line.
    field = add("field")
    field.get_by_label("Field").select_option(label="Birthday")
    field.get_by_label("Operator").select_option(label="is before")
    expect(field.get_by_label("Value")).to_have_attribute("type", "date")
    field.get_by_label("Value").fill("2001-02-03")
    field.get_by_label("Field").select_option(label="First name")
    field.get_by_label("Operator").select_option(label="is one of")
    field.get_by_label("Value").fill("Ada\nCy\n")
    expect_count(page, 2)
    assert rules_json(page)["rules"]["all"][0]["value"] == ["Ada", "Cy"]
    field.get_by_role("button", name="Remove").click()

    # An event with a property filter, a window "between … ago" and "and no … since".
    viewed = add("event")
    viewed.get_by_label("Event", exact=True).select_option(label="Placed an order")
    viewed.get_by_role("button", name="Add a filter").first.click()
    prop = viewed.locator("input[data-path='rules.all[0].filters[0].property']")
    expect(prop).to_be_focused()
    assert prop.get_attribute("list")  # suggestions from the event type's properties
    prop.fill("items.quantity")
    prop.press("Tab")
    expect(viewed.locator("select[data-path='rules.all[0].filters[0].type']")).to_have_value(
        "number"
    )
    viewed.locator("select[data-path='rules.all[0].filters[0].operator']").select_option("gte")
    viewed.locator("input[data-path='rules.all[0].filters[0].value']").fill("1")
    viewed.get_by_label("When").select_option("between")
    viewed.get_by_label("When: Between").fill("0")
    viewed.get_by_label("When: and").fill("2")
    viewed.locator("[data-path='rules.all[0].window.unit']").select_option("hours")
    expect_count(page, 1)
    viewed.get_by_label("Count operator").select_option("none")
    expect(viewed.get_by_label("Count", exact=True)).to_have_count(0)
    expect_count(page, 4)
    assert rules_json(page)["rules"]["all"][0] == {
        "condition": "event",
        "event_type": "order_placed",
        "filters": [
            {"property": "items.quantity", "type": "number", "operator": "gte", "value": 1}
        ],
        "count_operator": "none",
        "window": {"type": "between", "from": 0, "to": 2, "unit": "hours"},
    }
    viewed.get_by_role("button", name="Remove filter 1").click()
    viewed.get_by_role("button", name="Remove").last.click()

    # "when": the attribute of an anniversary shows only for a date attribute.
    anniversary = add("anniversary")
    expect(anniversary.get_by_label("Attribute")).to_have_count(0)
    anniversary.get_by_label("Field").select_option("attribute")
    expect(anniversary.get_by_label("Attribute")).to_be_visible()
    anniversary.get_by_label("Field").select_option("birthday")
    expect(anniversary.get_by_label("Attribute")).to_have_count(0)
    assert "attribute" not in rules_json(page)["rules"]["all"][0]
    anniversary.get_by_role("button", name="Remove").click()

    # The site's own condition, with inputs for its number, date, texts, bool and text.
    shoes = add("shoe_size")
    shoes.get_by_label("Size").fill("38.5")
    shoes.get_by_label("Since").fill("2020-01-31")
    shoes.get_by_label("Brands").fill("Oak\nThread")
    shoes.get_by_label("Wide").select_option("true")
    shoes.get_by_label("Note").fill("winter")
    expect_count(page, 0)
    assert rules_json(page)["rules"]["all"][0] == {
        "condition": "shoe_size",
        "size": 38.5,
        "since": "2020-01-31",
        "brands": ["Oak", "Thread"],
        "wide": True,
        "note": "winter",
    }

    # Saving with an unfinished part: refused, and the builder marks it straight away.
    shoes.get_by_label("Size").fill("")
    page.fill("#id_name", "Shoes")
    page.fill("#id_slug", "shoes")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("The segment could not be created due to errors.")).to_be_visible()
    expect(page.locator("#id_rules")).to_have_attribute("value", re.compile("shoe_size"))
    marked = page.locator("[data-path='rules.all[0]'] .error-message")
    expect(marked).to_have_text("Size is required")
    assert not Segment.objects.exists()
    assert errors == []


def test_a_failing_or_slow_count_never_breaks_the_builder(
    logged_in: Callable[[str], Any], shoppers: dict[str, Contact]
) -> None:
    from playwright.sync_api import expect

    page = logged_in("/admin/oneonone_segment/new/")
    expect_count(page, 5)
    root = page.locator(ROOT)
    status = page.locator("[data-oneonone-count]")

    def add_consent() -> Any:
        root.get_by_label("Condition").last.select_option("consent")
        root.get_by_role("button", name="Add condition").last.click()

    # The server fails: a message, and the builder goes on working.
    page.route("**/oneonone_segment/preview/", lambda route: route.fulfill(status=500))
    add_consent()
    expect(status).to_have_attribute("data-state", "error")
    expect(status).to_contain_text("The count could not be fetched (HTTP 500)")
    page.unroute("**/oneonone_segment/preview/")

    # The server does not answer: after the time limit, a message; the next change counts.
    held: list[Any] = []
    page.route("**/oneonone_segment/preview/", lambda route: held.append(route))
    page.eval_on_selector(
        "[data-oneonone-segment-builder]", "root => root.oneononeBuilder.timeoutMs = 300"
    )
    page.get_by_label("Subscribed", exact=True).check()
    expect(status).to_contain_text("The count is taking too long")
    page.unroute("**/oneonone_segment/preview/")
    page.get_by_label("Pending double opt-in").check()
    expect_count(page, 2)
    add_consent()
    expect(page.locator("[data-oneonone-condition='consent']")).to_have_count(2)
