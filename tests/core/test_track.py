"""track(): validation plus one insert, with clear errors naming the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from wagtail_oneonone import Prop, register_event_type, track
from wagtail_oneonone.events import types
from wagtail_oneonone.exceptions import EventValidationError, UnknownEventType
from wagtail_oneonone.models import Contact, Event

pytestmark = pytest.mark.django_db

ORDER = {
    "order_id": "A-1001",
    "items": [{"product_id": 7, "name": "Mug", "quantity": 2, "price": "9.50"}],
    "total": "19.00",
}


def test_order_creates_contact_with_normalised_email_and_value_from_total() -> None:
    event = track("order_placed", email="  Ann@Example.COM ", properties=ORDER)
    assert event is not None
    event.refresh_from_db()
    assert event.contact is not None
    assert event.contact.email == "ann@example.com"
    assert event.value == Decimal("19.00")
    assert event.currency == "GBP"
    assert event.properties["items"] == [
        {"product_id": "7", "name": "Mug", "quantity": 2, "price": 9.5}
    ]
    assert event.occurred_at.tzinfo is not None


def test_existing_contact_costs_one_statement_that_stores_every_field() -> None:
    bob = Contact.objects.create(email="bob@example.com")
    when = dt.datetime(2026, 5, 4, 3, 2, 1, tzinfo=dt.UTC)
    with CaptureQueriesContext(connection) as queries:
        event = track(
            "order_placed",
            email="BOB@example.com",
            properties=ORDER,
            occurred_at=when,
            currency="eur",
        )
    assert [q["sql"].split()[0].upper() for q in queries.captured_queries] == ["INSERT"]
    assert event is not None and event.pk is not None and event.contact_id == bob.pk
    stored = Event.objects.get(pk=event.pk)
    assert stored.contact == bob
    assert stored.visitor_id is None and stored.dedup_key is None
    assert (stored.type, stored.value, stored.currency) == (
        "order_placed",
        Decimal("19.00"),
        "EUR",
    )
    assert stored.occurred_at == when
    assert stored.properties == event.properties
    assert stored.properties["items"][0]["price"] == 9.5
    assert stored.recorded_at is not None


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"email": "not-an-address"}, "email", "not a valid email"),
        ({"email": ""}, "email", "required"),
        ({"email": 42}, "email", "expected a string"),
        ({"email": "a" * 65 + "@example.com"}, "email", "local part"),
        ({"email": "a@" + "b" * 250 + ".com"}, "email", "longer than 254"),
        ({}, "email", "say who did it"),
        ({"email": "a@example.com", "properties": []}, "properties", "expected a mapping"),
        ({"email": "a@example.com", "value": "ten"}, "value", "expected a number"),
        ({"email": "a@example.com", "value": float("nan")}, "value", "finite"),
        ({"email": "a@example.com", "value": 1, "currency": "pounds"}, "currency", "ISO 4217"),
        ({"email": "a@example.com", "currency": "EUR"}, "currency", "without a value"),
        (
            {"email": "a@example.com", "occurred_at": dt.datetime(2026, 1, 1, 12)},
            "occurred_at",
            "timezone-aware",
        ),
        ({"email": "a@example.com", "occurred_at": "yesterday"}, "occurred_at", "ISO 8601"),
        ({"email": "a@example.com", "occurred_at": 1700000000}, "occurred_at", "datetime"),
        (
            {
                "email": "a@example.com",
                "occurred_at": dt.datetime.now(dt.UTC) + dt.timedelta(days=2),
            },
            "occurred_at",
            "future",
        ),
        ({"email": "a@example.com", "dedup_key": ""}, "dedup_key", "1 to 200"),
        ({"email": "a@example.com", "dedup_key": "x" * 201}, "dedup_key", "1 to 200"),
        ({"visitor_id": "v" * 37}, "visitor_id", "36"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    kwargs: dict, field: str, fragment: str
) -> None:
    kwargs.setdefault("properties", {"product_id": "1"})
    with pytest.raises(EventValidationError) as info:
        track("product_viewed", **kwargs)
    assert info.value.field == field
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"{field}:")
    assert Event.objects.count() == 0
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    ("properties", "field", "fragment"),
    [
        ({"items": ORDER["items"], "total": 1}, "properties.order_id", "required"),
        ({**ORDER, "items": "mug"}, "properties.items", "expected a list"),
        ({**ORDER, "items": ["mug"]}, "properties.items[0]", "expected an object"),
        ({**ORDER, "items": [{"quantity": 1}]}, "properties.items[0].product_id", "required"),
        (
            {**ORDER, "items": [{"product_id": "1", "quantity": "two"}]},
            "properties.items[0].quantity",
            "integer",
        ),
        (
            {**ORDER, "items": [{"product_id": "1", "quantity": -1}]},
            "properties.items[0].quantity",
            "at least 0",
        ),
        ({**ORDER, "total": True}, "properties.total", "number"),
        ({**ORDER, "total": -5}, "properties.total", "at least 0"),
        ({**ORDER, "note": object()}, "properties", "JSON serialisable"),
        ({**ORDER, "blob": "x" * 20_000}, "properties", "the limit is 16384"),
    ],
)
def test_bad_properties_name_the_path(properties: dict, field: str, fragment: str) -> None:
    with pytest.raises(EventValidationError) as info:
        track("order_placed", email="a@example.com", properties=properties)
    assert info.value.field == field
    assert fragment in info.value.message
    assert Event.objects.count() == 0
    assert Contact.objects.count() == 0


def test_unknown_event_type_lists_the_registered_ones() -> None:
    with pytest.raises(UnknownEventType) as info:
        track("order_placd", email="a@example.com")
    assert info.value.field == "event_type"
    assert "order_placed" in str(info.value)
    assert Event.objects.count() == 0


def test_anonymous_orders_are_refused() -> None:
    with pytest.raises(EventValidationError, match="need a known contact"):
        track("order_placed", visitor_id="v-1", properties=ORDER)
    assert Event.objects.count() == 0


def test_fail_silently_logs_and_drops(caplog: pytest.LogCaptureFixture) -> None:
    dropped = track(
        "product_viewed", email="nope", properties={"product_id": "1"}, fail_silently=True
    )
    assert dropped is None
    assert Event.objects.count() == 0
    assert "Dropped event 'product_viewed'" in caplog.text
    assert "email" in caplog.text


def test_dedup_key_records_once() -> None:
    first = track("order_placed", email="a@example.com", properties=ORDER, dedup_key="order-1")
    again = track("order_placed", email="a@example.com", properties=ORDER, dedup_key="order-1")
    assert first is not None and again is not None
    assert first.pk == again.pk
    assert Event.objects.filter(type="order_placed").count() == 1


def test_occurred_at_is_stored_in_utc() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    when = dt.datetime(2026, 3, 1, 9, 0, tzinfo=tokyo)
    event = track(
        "product_viewed", email="a@example.com", properties={"product_id": "1"}, occurred_at=when
    )
    assert event is not None
    event.refresh_from_db()
    assert event.occurred_at == dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)


def test_events_are_append_only() -> None:
    event = track("product_viewed", email="a@example.com", properties={"product_id": "1"})
    assert event is not None
    event.type = "page_viewed"
    with pytest.raises(TypeError, match="append-only"):
        event.save()


def test_user_resolves_to_linked_contact_created_from_their_email() -> None:
    user = get_user_model().objects.create_user("cat", "Cat@Example.com", "pw")
    event = track("product_viewed", user=user, properties={"product_id": "1"})
    assert event is not None and event.contact is not None
    assert event.contact.email == "cat@example.com"
    assert event.contact.user == user
    track("product_viewed", user=user, properties={"product_id": "2"})
    assert Contact.objects.count() == 1


def test_request_without_identity_tracks_a_visitor() -> None:
    request = RequestFactory().get("/")
    event = track("product_viewed", request=request, properties={"product_id": "1"})
    assert event is not None
    assert event.contact_id is None
    assert event.visitor_id == request.oneonone_visitor_id  # type: ignore[attr-defined]


class TestCustomEventTypes:
    def teardown_method(self) -> None:
        types._registry.pop("review_written", None)

    def test_registered_type_validates_its_schema(self) -> None:
        register_event_type(
            "review_written",
            label="Wrote a review",
            properties={"rating": Prop("int", required=True, min_value=1), "text": Prop("str")},
        )
        event = track("review_written", email="a@example.com", properties={"rating": 5})
        assert event is not None and event.properties == {"rating": 5}
        with pytest.raises(EventValidationError) as info:
            track("review_written", email="a@example.com", properties={"rating": 0})
        assert info.value.field == "properties.rating"

    def test_bad_registrations_are_refused(self) -> None:
        with pytest.raises(ValueError, match="lower-case"):
            register_event_type("Review Written")
        with pytest.raises(ValueError, match="already registered"):
            register_event_type("order_placed")
        with pytest.raises(ValueError, match="unknown property kind"):
            register_event_type("review_written", properties={"rating": Prop("float")})


def test_dedup_key_of_another_kind_of_event_is_refused() -> None:
    track("order_placed", email="a@example.com", properties=ORDER, dedup_key="1001")
    with pytest.raises(EventValidationError) as info:
        track("signed_up", email="a@example.com", dedup_key="1001")
    assert info.value.field == "dedup_key"
    assert Event.objects.count() == 1


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        ({"url": "/", "page_id": "--5"}, "properties.page_id"),
        ({"url": "/", "page_id": "²"}, "properties.page_id"),
        ({"url": "/", "page_id": "9" * 30}, "properties.page_id"),
    ],
)
def test_malformed_integers_are_refused(properties: dict, field: str) -> None:
    with pytest.raises(EventValidationError) as info:
        track("page_viewed", email="a@example.com", properties=properties)
    assert info.value.field == field


@pytest.mark.parametrize("number", ["1e999999999", "1e1000000", "-1e20", "9" * 60, "1e-999999"])
def test_huge_numbers_are_refused_at_once(number: str) -> None:
    # Without a bound these cost minutes of CPU in Decimal arithmetic.
    with pytest.raises(EventValidationError) as info:
        track(
            "product_viewed",
            email="a@example.com",
            properties={"product_id": "1", "price": number},
        )
    assert info.value.field == "properties.price"
    with pytest.raises(EventValidationError) as info:
        track(
            "product_viewed", email="a@example.com", properties={"product_id": "1"}, value=number
        )
    assert info.value.field == "value"
    assert Event.objects.count() == 0


def test_request_path_resolves_remembered_contact_and_logout_forgets_it() -> None:
    from django.test import RequestFactory

    from wagtail_oneonone import identify
    from wagtail_oneonone.visitors import forget_contact

    request = RequestFactory().get("/")
    contact = identify("rae@example.com", request=request)
    event = track("product_viewed", request=request, properties={"product_id": "1"})
    assert event is not None and event.contact == contact
    forget_contact(request)
    event = track("product_viewed", request=request, properties={"product_id": "2"})
    assert event is not None and event.contact_id is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"properties": {"product_id": "1", "name": "Mug\x00"}}, "properties.name"),
        ({"properties": {"product_id": "1", "extra": {"note": "a\x00"}}}, "properties"),
        ({"properties": {"product_id": "1"}, "dedup_key": "k\x00"}, "dedup_key"),
    ],
)
def test_nul_characters_are_refused_before_the_database_sees_them(
    kwargs: dict, field: str
) -> None:
    # PostgreSQL cannot store NUL in text or jsonb; the caller gets a clear error instead.
    with pytest.raises(EventValidationError) as info:
        track("product_viewed", email="a@example.com", **kwargs)
    assert info.value.field == field
    assert "NUL" in info.value.message


def test_escaped_backslash_u0000_text_is_fine() -> None:
    event = track(
        "product_viewed",
        email="a@example.com",
        properties={"product_id": "1", "note": "C:\\u0000"},
    )
    assert event is not None
    assert Event.objects.get().properties["note"] == "C:\\u0000"


def test_fail_silently_inside_a_transaction_keeps_it_usable() -> None:
    from django.db import transaction

    with transaction.atomic():
        assert track("product_viewed", email="bad", fail_silently=True) is None
        Contact.objects.create(email="still-works@example.com")
    assert Contact.objects.filter(email="still-works@example.com").exists()
