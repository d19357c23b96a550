"""The context templates get: plain data about one contact, in one query."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings
from django.utils.safestring import mark_safe

from wagtail_oneonone.models import ConsentStatus, Contact, Event
from wagtail_oneonone.rendering import build_context, preview_context, render_email
from wagtail_oneonone.rendering.context import CONTEXT_VARIABLES, build_contexts
from wagtail_oneonone.rendering.segments import SegmentMembership

from .conftest import oneonone_settings, source

pytestmark = pytest.mark.django_db

START = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
PLAIN_TYPES = (str, int, float, bool, type(None))


def assert_plain(value: Any, path: str = "context") -> None:
    if path == "context.contact.in_segment":
        # The one thing that is not data: a yes/no question that returns a bool.
        assert type(value) is SegmentMembership
        return
    if isinstance(value, dict):
        assert type(value) is dict, path
        for key, item in value.items():
            assert type(key) is str, f"{path} key {key!r}"
            assert_plain(item, f"{path}.{key}")
    elif isinstance(value, list):
        assert type(value) is list, path
        for index, item in enumerate(value):
            assert_plain(item, f"{path}[{index}]")
    else:
        assert type(value) in PLAIN_TYPES, f"{path} is a {type(value).__name__}"


def record(contact: Contact, minutes: int, type: str, **properties: Any) -> Event:
    value = properties.pop("value", None)
    return Event.objects.create(
        contact=contact,
        type=type,
        occurred_at=START + timedelta(minutes=minutes),
        value=value,
        currency="GBP" if value is not None else "",
        properties=properties,
    )


@pytest.fixture
def contact() -> Contact:
    return Contact.objects.create(
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        birthday=date(1990, 12, 10),
        attributes={"favourite_tea": "Assam", "sizes": {"shoe": 38}},
        consent_status=ConsentStatus.SUBSCRIBED,
        source="checkout",
    )


@pytest.fixture
def history(contact: Contact) -> list[Event]:
    """An order long ago, carts, product views (some repeated), then many page views."""
    events = [
        record(
            contact,
            0,
            "order_placed",
            order_id="1001",
            items=[{"product_id": "tea", "quantity": 2, "price": 4.5, "url": "/p/tea/"}],
            total=9.0,
            value=Decimal("9.00"),
        ),
        record(contact, 1, "cart_updated", items=[{"product_id": "old", "quantity": 1}]),
    ]
    for minute, product in enumerate(["a", "b", "a", "c", "d", "e", "f", "g", "b"], start=10):
        events.append(
            record(
                contact,
                minute,
                "product_viewed",
                product_id=product,
                name=product.upper(),
                price=10,
                url=f"/p/{product}/",
                image_url=f"//cdn.example/{product}.png",
            )
        )
    events.append(
        record(
            contact,
            30,
            "cart_updated",
            items=[{"product_id": "g", "quantity": 1, "price": 12.5, "url": "/p/g/"}],
            cart_total=12.5,
            value=Decimal("12.50"),
        )
    )
    for minute in range(40, 65):
        events.append(record(contact, minute, "page_viewed", url=f"/page/{minute}/"))
    return events


def test_context_is_plain_data_with_the_documented_keys(
    contact: Contact, history: list[Event], django_assert_num_queries: Any
) -> None:
    trigger = history[-1]
    with django_assert_num_queries(1):
        ctx = build_context(contact, trigger_event=trigger, now=START)
    assert_plain(ctx)
    assert set(ctx) == set(CONTEXT_VARIABLES) - {"unsubscribe_url", "preferences_url"}
    assert ctx["contact"].pop("in_segment") == SegmentMembership(contact.pk, now=START)
    assert ctx["contact"] == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "full_name": "Ada Lovelace",
        "time_zone": "Europe/London",
        "locale": "",
        "birthday": "1990-12-10",
        "customer_since": None,
        "attributes": {"favourite_tea": "Assam", "sizes": {"shoe": 38}},
        "consent_status": "subscribed",
        "source": "checkout",
    }
    assert ctx["attributes"] == ctx["contact"]["attributes"]
    assert ctx["site"] == {"name": "oneonone tests", "base_url": "http://testserver"}
    assert ctx["now"] == "2025-05-01T09:00:00+00:00"
    assert ctx["trigger"]["type"] == "page_viewed"
    assert ctx["trigger"]["properties"] == {"url": "http://testserver/page/64/"}


def test_events_are_the_most_recent_newest_first(contact: Contact, history: list[Event]) -> None:
    with oneonone_settings(RECENT_EVENTS_IN_CONTEXT=5):
        events = build_context(contact)["events"]
    assert [event["occurred_at"] for event in events] == [
        (START + timedelta(minutes=minute)).isoformat() for minute in (64, 63, 62, 61, 60)
    ]
    assert events[0] == {
        "type": "page_viewed",
        "label": "Viewed a page",
        "occurred_at": "2025-05-01T10:04:00+00:00",
        "value": None,
        "currency": "",
        "properties": {"url": "http://testserver/page/64/"},
    }


def test_helpers_reach_past_the_recent_events(contact: Contact, history: list[Event]) -> None:
    ctx = build_context(contact)
    assert [product["product_id"] for product in ctx["recent_products"]] == [
        "b",
        "g",
        "f",
        "e",
        "d",
        "c",
    ]
    assert ctx["recent_products"][0] == {
        "product_id": "b",
        "name": "B",
        "url": "http://testserver/p/b/",
        "image_url": "http://cdn.example/b.png",
        "price": 10,
        "category": None,
    }
    assert ctx["last_cart"] == [
        {"product_id": "g", "quantity": 1, "price": 12.5, "url": "http://testserver/p/g/"}
    ]
    assert ctx["last_order"]["order_id"] == "1001"
    assert ctx["last_order"]["total"] == 9.0
    assert ctx["last_order"]["value"] == 9.0
    assert ctx["last_order"]["items"][0]["url"] == "http://testserver/p/tea/"


def test_contact_without_events(contact: Contact, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        ctx = build_context(contact)
    assert (ctx["events"], ctx["recent_products"], ctx["last_cart"]) == ([], [], [])
    assert ctx["last_order"] is None and ctx["trigger"] is None


def test_unsaved_contact_needs_no_query(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        ctx = build_context(Contact(email="new@example.com", time_zone="Asia/Tokyo"))
    assert ctx["contact"]["time_zone"] == "Asia/Tokyo"
    assert ctx["events"] == []


def test_extra_is_made_plain_and_loses_safe_marks(contact: Contact) -> None:
    ctx = build_context(
        contact,
        extra={
            "unsubscribe_url": "https://x/u/",
            "note": mark_safe("<b>hi</b>"),
            "obj": contact,
            "status": ConsentStatus.SUBSCRIBED,
        },
    )
    assert_plain(ctx)
    assert ctx["obj"] == "ada@example.com" and ctx["status"] == "subscribed"
    html = render_email(source("<p>{{ note }}</p>"), ctx).html
    assert "<p>&lt;b&gt;hi&lt;/b&gt;</p>" in html


def test_site_prefers_the_app_base_url(contact: Contact) -> None:
    with override_settings(
        WAGTAIL_ONEONONE={"BASE_URL": "https://shop.example/"}, WAGTAIL_SITE_NAME="Oak"
    ):
        assert build_context(contact)["site"] == {
            "name": "Oak",
            "base_url": "https://shop.example",
        }


def test_preview_context_uses_the_latest_event(
    contact: Contact, history: list[Event], django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        ctx = preview_context(contact)
    assert ctx["trigger"] == ctx["events"][0]
    assert ctx["unsubscribe_url"] and ctx["preferences_url"]


def test_renders_a_real_email_for_a_contact(contact: Contact, history: list[Event]) -> None:
    template = source(
        "<p>Hi {{ contact.first_name }}</p>"
        "{% for item in last_cart %}<p>{{ item.product_id }} {{ item.price|money }}</p>"
        "{% endfor %}"
        "{% if last_order %}<p>Order {{ last_order.order_id }} on "
        "{{ last_order.occurred_at|date('%d %B') }}</p>{% endif %}",
        subject="{{ contact.first_name }}, still thinking about {{ recent_products[0].name }}?",
    )
    rendered = render_email(template, build_context(contact, trigger_event=history[-1]))
    assert rendered.subject == "Ada, still thinking about B?"
    assert "<p>g £12.50</p>" in rendered.html
    assert "<p>Order 1001 on 01 May</p>" in rendered.html


def varied_histories() -> list[Contact]:
    """Contacts whose histories differ in every way the context's selection cares about."""
    many_views = Contact.objects.create(email="many@example.com", first_name="Many")
    for minute in range(70):  # more product views than are scanned, some repeated
        record(
            many_views,
            minute,
            "product_viewed",
            product_id=f"p{minute % 9}",
            name=f"P{minute % 9}",
            url=f"/p/{minute % 9}/",
        )
    record(many_views, 80, "order_placed", order_id="9", value=Decimal("5.00"))
    ties = Contact.objects.create(email="ties@example.com", attributes={"vip": True})
    for order_id in ("1", "2", "3"):  # the same moment: the newest id wins
        record(ties, 5, "order_placed", order_id=order_id, value=Decimal("1.50"))
    for cart in ("a", "b"):
        record(ties, 5, "cart_updated", items=[{"product_id": cart, "url": f"/p/{cart}/"}])
    busy = Contact.objects.create(email="busy@example.com", time_zone="Asia/Tokyo")
    record(busy, 0, "cart_updated", items=[{"product_id": "old"}])
    record(busy, 1, "product_viewed", product_id="x", image_url="//cdn.example/x.png")
    for minute in range(2, 40):  # pushes everything helpful out of the recent events
        record(busy, minute, "page_viewed", url=f"/page/{minute}/")
    quiet = Contact.objects.create(email="quiet@example.com", first_name="Quiet")
    visitor_only = Event.objects.create(
        visitor_id="v-1", type="product_viewed", occurred_at=START, properties={"product_id": "v"}
    )
    assert visitor_only.contact_id is None  # never anyone's context
    return [many_views, ties, busy, quiet]


@pytest.mark.parametrize("recent", [0, 3, 20])
def test_contexts_for_a_batch_equal_one_contact_at_a_time(
    recent: int, django_assert_num_queries: Any
) -> None:
    contacts = varied_histories()
    triggers = [None, Event.objects.filter(contact=contacts[1]).last(), None, None]
    extras = [{"unsubscribe_url": f"https://x/u/{contact.pk}/"} for contact in contacts]
    with oneonone_settings(RECENT_EVENTS_IN_CONTEXT=recent):
        single = [
            build_context(contact, trigger_event=trigger, extra=extra, now=START)
            for contact, trigger, extra in zip(contacts, triggers, extras, strict=True)
        ]
        # The same contact twice (two messages to one person), in another order.
        order = [3, 0, 2, 1, 0]
        with django_assert_num_queries(1):
            batched = build_contexts(
                [contacts[i] for i in order],
                trigger_events=[triggers[i] for i in order],
                extras=[extras[i] for i in order],
                now=START,
            )
    assert batched == [single[i] for i in order]
    assert batched[1] is not batched[4]  # each message gets a context of its own
    many, ties, busy, quiet = single
    assert len(many["events"]) == min(recent, 71)
    # The newest views (minutes 69, 68, ...) are of p6, p5, ...
    newest_first = ["p6", "p5", "p4", "p3", "p2", "p1"]
    assert [p["product_id"] for p in many["recent_products"]] == newest_first
    assert many["last_order"]["order_id"] == "9"
    assert ties["last_order"]["order_id"] == "3"
    assert ties["last_cart"] == [{"product_id": "b", "url": "http://testserver/p/b/"}]
    assert busy["last_cart"] == [{"product_id": "old"}]
    assert busy["recent_products"][0]["image_url"] == "http://cdn.example/x.png"
    assert quiet["events"] == quiet["recent_products"] == quiet["last_cart"] == []


def test_no_contacts_need_no_query(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert build_contexts([]) == []
