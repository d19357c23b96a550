"""identify(), consent, suppression, export and erasure."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from wagtail_oneonone import identify, track
from wagtail_oneonone.contacts.services import (
    erase_contact,
    export_contact,
    is_suppressed,
    set_consent,
    suppress,
)
from wagtail_oneonone.exceptions import ContactValidationError
from wagtail_oneonone.models import ConsentChange, Contact, ErasureRecord, Event, Suppression
from wagtail_oneonone.signals import consent_changed, contact_erased

pytestmark = pytest.mark.django_db


def test_identify_creates_then_updates_without_wiping() -> None:
    contact = identify(
        "Dee@Example.com",
        first_name="Dee",
        time_zone="Europe/Berlin",
        birthday="1990-04-02",
        attributes={"shoe_size": 38},
    )
    assert contact.email == "dee@example.com"
    assert contact.birthday == dt.date(1990, 4, 2)
    identify("dee@example.com", attributes={"favourite": "boots"}, locale="de-DE")
    contact.refresh_from_db()
    assert contact.attributes == {"shoe_size": 38, "favourite": "boots"}
    assert contact.first_name == "Dee"
    assert contact.time_zone == "Europe/Berlin"
    assert contact.locale == "de-DE"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"birthday": "02/04/1990"}, "birthday"),
        ({"birthday": dt.datetime(1990, 4, 2, tzinfo=dt.UTC)}, "birthday"),
        ({"first_name": "x" * 151}, "first_name"),
        ({"attributes": ["size"]}, "attributes"),
        ({"attributes": {"": 1}}, "attributes"),
        ({"attributes": {"when": dt.datetime(2026, 1, 1)}}, "attributes.when"),
        ({"attributes": {"blob": "x" * 20_000}}, "attributes"),
        ({"consent": "yes", "consent_source": "form"}, "consent"),
        ({"consent": "subscribed"}, "consent_source"),
    ],
)
def test_identify_refuses_bad_input_and_writes_nothing(kwargs: dict, field: str) -> None:
    with pytest.raises(ContactValidationError) as info:
        identify("eve@example.com", **kwargs)
    assert info.value.field == field
    assert not Contact.objects.exists()
    assert not ConsentChange.objects.exists()


def test_identify_bad_email() -> None:
    with pytest.raises(ContactValidationError) as info:
        identify("eve@")
    assert info.value.field == "email"


def test_consent_changes_are_audited_and_signalled(django_capture_on_commit_callbacks) -> None:
    received = []
    consent_changed.connect(
        lambda sender, **kw: received.append(kw["change"]), weak=False, dispatch_uid="test-consent"
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            contact = identify(
                "fay@example.com",
                consent="subscribed",
                consent_source="footer form",
                consent_where="https://shop.example/",
            )
        assert contact.consent_status == "subscribed"
        assert contact.consent_source == "footer form"
        assert contact.consent_at is not None
        with django_capture_on_commit_callbacks(execute=True):
            set_consent(contact, "unsubscribed", source="unsubscribe link")
        # Same status again records nothing.
        assert set_consent(contact, "unsubscribed", source="again") is None
    finally:
        consent_changed.disconnect(dispatch_uid="test-consent")
    history = list(contact.consent_changes.order_by("occurred_at", "id"))
    assert [(c.previous_status, c.status, c.source) for c in history] == [
        ("none", "subscribed", "footer form"),
        ("subscribed", "unsubscribed", "unsubscribe link"),
    ]
    assert history[0].where == "https://shop.example/"
    assert [c.pk for c in received] == [c.pk for c in history]
    assert is_suppressed("FAY@example.com")


def test_consent_needs_a_source() -> None:
    contact = Contact.objects.create(email="gus@example.com")
    with pytest.raises(ContactValidationError, match="source"):
        set_consent(contact, "subscribed", source="")
    assert not ConsentChange.objects.exists()


def test_resubscribing_lifts_only_an_unsubscribe_suppression_and_only_by_the_person() -> None:
    contact = identify("hal@example.com", consent="subscribed", consent_source="form")
    set_consent(contact, "unsubscribed", source="link")
    set_consent(contact, "subscribed", source="csv import")
    assert is_suppressed(contact.email)  # staff or imports cannot undo an opt-out
    set_consent(contact, "unsubscribed", source="link")
    set_consent(contact, "subscribed", source="preference centre", by_contact=True)
    assert not is_suppressed(contact.email)
    suppress(contact.email, "complaint")
    set_consent(contact, "unsubscribed", source="link")
    set_consent(contact, "subscribed", source="preference centre", by_contact=True)
    assert Suppression.objects.get().reason == "complaint"


def test_mailable_excludes_suppressed_and_unsubscribed() -> None:
    ok = identify("ivy@example.com", consent="subscribed", consent_source="form")
    bounced = identify("jo@example.com", consent="subscribed", consent_source="form")
    identify("kim@example.com")
    suppress(bounced.email, "hard_bounce")
    assert list(Contact.objects.mailable()) == [ok]


def test_export_contains_profile_consent_and_events() -> None:
    contact = identify(
        "lou@example.com",
        first_name="Lou",
        attributes={"vip": True},
        consent="subscribed",
        consent_source="checkout",
    )
    track("product_viewed", contact=contact, properties={"product_id": "3", "name": "Hat"})
    data = export_contact(contact)
    assert data["contact"]["email"] == "lou@example.com"
    assert data["contact"]["attributes"] == {"vip": True}
    assert data["consent_history"][0]["source"] == "checkout"
    assert data["events"][0]["properties"]["name"] == "Hat"
    assert data["suppressed"] is False


def test_erasure_deletes_everything_but_keeps_suppression(
    django_capture_on_commit_callbacks,
) -> None:
    request = RequestFactory().get("/")
    track("product_viewed", request=request, properties={"product_id": "1"})
    contact = identify(
        "max@example.com", request=request, consent="subscribed", consent_source="form"
    )
    set_consent(contact, "unsubscribed", source="link")
    # A later anonymous event from the same browser belongs to them too.
    track(
        "product_viewed",
        visitor_id=request.oneonone_visitor_id,  # type: ignore[attr-defined]
        properties={"product_id": "2"},
    )
    erased = []
    contact_erased.connect(
        lambda sender, **kw: erased.append(kw["email_hash"]),
        weak=False,
        dispatch_uid="test-erased",
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            record = erase_contact(contact, reason="GDPR request")
    finally:
        contact_erased.disconnect(dispatch_uid="test-erased")
    assert not Contact.objects.exists()
    assert not Event.objects.exists()
    assert not ConsentChange.objects.exists()
    assert record.events_deleted == 2
    assert ErasureRecord.objects.get().email_hash == erased[0]
    assert is_suppressed("max@example.com")
    # An old list imported later does not make them mailable again...
    again = Contact.objects.create(email="max@example.com")
    set_consent(again, "subscribed", source="csv import")
    assert again not in Contact.objects.mailable()
    # ...but opting in again themselves, on the site, does.
    identify("max@example.com", consent="pending", consent_source="footer form")
    identify("max@example.com", consent="subscribed", consent_source="double opt-in")
    assert again in Contact.objects.mailable()


def test_identify_links_user_and_moves_link_on_email_change() -> None:
    user = get_user_model().objects.create_user("ned", "ned@example.com", "pw")
    old = identify("ned@example.com", user=user)
    new = identify("ned@new.example", user=user)
    old.refresh_from_db()
    assert old.user is None
    assert new.user == user


def test_source_is_first_touch_and_customer_since_keeps_the_earliest() -> None:
    identify("uma@example.com", source="newsletter box", customer_since="2025-05-01")
    contact = identify("uma@example.com", source="checkout", customer_since="2026-01-01")
    assert contact.source == "newsletter box"
    assert contact.customer_since == dt.date(2025, 5, 1)
    contact = identify("uma@example.com", customer_since="2024-12-24")
    assert contact.customer_since == dt.date(2024, 12, 24)


def test_identify_signal_can_fail_silently(caplog: pytest.LogCaptureFixture) -> None:
    from wagtail_oneonone.signals import identify_contact

    with pytest.raises(ContactValidationError):
        identify_contact.send(sender=None, email="bad")
    identify_contact.send(sender=None, email="bad", fail_silently=True)
    assert "Dropped identify" in caplog.text
    assert not Contact.objects.exists()


def test_long_page_address_does_not_block_consent() -> None:
    request = RequestFactory().get("/signup/?" + "utm_content=x&" * 100)
    contact = identify(
        "vic@example.com", request=request, consent="subscribed", consent_source="footer form"
    )
    assert contact.consent_status == "subscribed"
    assert len(contact.consent_where) == 500
