from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry, ReferenceIndex

from wagtail_oneonone.contacts.services import set_consent, suppress
from wagtail_oneonone.models import (
    ConsentChange,
    ConsentStatus,
    Contact,
    ErasureRecord,
    Event,
    Segment,
    Suppression,
)
from wagtail_oneonone.models.contacts import SuppressionReason

pytestmark = pytest.mark.django_db

INDEX = "oneonone_contact:index"


def listing_emails(response: Any) -> list[str]:
    return [row.instance.email for row in response.context["table"].rows]


@pytest.fixture
def crowd(contact: Contact, make_event: Callable[..., Event]) -> dict[str, Contact]:
    """A handful of contacts differing in every filtered property."""
    bob = Contact.objects.create(
        email="bob@example.com", first_name="Bob", time_zone="Europe/London"
    )
    cleo = Contact.objects.create(email="cleo@example.org", first_name="Cleo", last_name="Ng")
    set_consent(bob, ConsentStatus.SUBSCRIBED, source="test")
    set_consent(cleo, ConsentStatus.UNSUBSCRIBED, source="test")  # also suppresses
    make_event(
        bob, "order_placed", minutes_ago=5, properties={"order_id": "1", "items": [], "total": 1}
    )
    Contact.objects.filter(pk=contact.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    return {"ada": contact, "bob": bob, "cleo": cleo}


def test_listing_shows_contacts_with_columns(
    admin_client: Client, crowd: dict[str, Contact]
) -> None:
    response = admin_client.get(reverse(INDEX))
    assert response.status_code == 200
    assert set(listing_emails(response)) == {
        "ada@example.com",
        "bob@example.com",
        "cleo@example.org",
    }
    content = response.content.decode()
    for heading in ("Email", "Name", "Consent", "Time zone", "Created", "Last activity"):
        assert heading in content
    bob = next(
        r.instance for r in response.context["table"].rows if r.instance.email.startswith("bob")
    )
    assert bob.last_activity is not None
    assert reverse("oneonone_contact:inspect", args=[crowd["bob"].pk]) in content


def test_listing_is_paginated(admin_client: Client) -> None:
    Contact.objects.bulk_create(
        [Contact(email=f"p{i}@example.com", email_hash=f"h{i}") for i in range(55)]
    )
    first = admin_client.get(reverse(INDEX))
    second = admin_client.get(reverse(INDEX), {"p": 2})
    assert len(listing_emails(first)) == 50
    assert len(listing_emails(second)) == 5
    assert not set(listing_emails(first)) & set(listing_emails(second))


def test_last_activity_sorting_is_valid(admin_client: Client, crowd: dict[str, Contact]) -> None:
    response = admin_client.get(reverse(INDEX), {"ordering": "-last_activity"})
    assert response.status_code == 200
    assert response.context["ordering"] == "-last_activity"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ada", {"ada@example.com"}),
        ("example.org", {"cleo@example.org"}),
        ("cleo ng", {"cleo@example.org"}),
        ("Lovelace", {"ada@example.com"}),
        ("nobody", set()),
    ],
)
def test_search_by_email_and_name(
    admin_client: Client, crowd: dict[str, Contact], query: str, expected: set[str]
) -> None:
    response = admin_client.get(reverse(INDEX), {"q": query})
    assert set(listing_emails(response)) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"consent_status": "subscribed"}, {"bob"}),
        ({"consent_status": "unsubscribed"}, {"cleo"}),
        ({"time_zone": "Europe/Paris"}, {"ada"}),
        ({"time_zone": "-"}, {"cleo"}),
        ({"suppressed": "true"}, {"cleo"}),
        ({"suppressed": "false"}, {"ada", "bob"}),
        ({"has_ordered": "true"}, {"bob"}),
        ({"has_ordered": "false"}, {"ada", "cleo"}),
        ({"has_user": "false"}, {"ada", "bob", "cleo"}),
        ({"has_user": "true"}, set()),
        (
            {"created_at_from": (timezone.now() - dt.timedelta(days=2)).date().isoformat()},
            {"bob", "cleo"},
        ),
        ({"created_at_to": (timezone.now() - dt.timedelta(days=30)).date().isoformat()}, {"ada"}),
    ],
)
def test_filters(
    admin_client: Client, crowd: dict[str, Contact], params: dict[str, str], expected: set[str]
) -> None:
    response = admin_client.get(reverse(INDEX), params)
    assert response.status_code == 200
    assert {email.split("@")[0] for email in listing_emails(response)} == expected


def test_segment_filter_lists_the_members_now(
    admin_client: Client, crowd: dict[str, Contact]
) -> None:
    buyers = Segment.objects.create(
        name="Buyers",
        slug="buyers",
        rules={"version": 1, "rules": {"condition": "lifecycle", "stages": ["new", "active"]}},
    )
    response = admin_client.get(reverse(INDEX), {"segment": buyers.pk})
    assert {email.split("@")[0] for email in listing_emails(response)} == {"bob"}
    # A segment whose stored rules went bad lists no one and says why.
    Segment.objects.filter(pk=buyers.pk).update(rules={"version": 1, "rules": {"x": []}})
    response = admin_client.get(reverse(INDEX), {"segment": buyers.pk}, follow=True)
    assert listing_emails(response) == []
    assert "Segment “Buyers”" in response.content.decode()


def test_has_user_filter_finds_linked_contacts(
    admin_client: Client, crowd: dict[str, Contact], django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("shopper", "ada@example.com", "pw")
    Contact.objects.filter(pk=crowd["ada"].pk).update(user=user)
    response = admin_client.get(reverse(INDEX), {"has_user": "true"})
    assert listing_emails(response) == ["ada@example.com"]


def test_time_zone_filter_offers_the_zones_in_use(
    admin_client: Client, crowd: dict[str, Contact]
) -> None:
    response = admin_client.get(reverse(INDEX))
    choices = dict(response.context["filters"].form.fields["time_zone"].choices)
    assert "Europe/Paris" in choices and "Europe/London" in choices
    assert "America/Lima" not in choices


def test_contact_page_shows_profile_timeline_and_consent_history(
    admin_client: Client, contact: Contact, timeline: list[Event], admin_user: Any
) -> None:
    set_consent(contact, ConsentStatus.SUBSCRIBED, source="checkout box", where="/checkout/")
    set_consent(contact, ConsentStatus.UNSUBSCRIBED, source="phone call", actor=admin_user)
    response = admin_client.get(reverse("oneonone_contact:inspect", args=[contact.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    # Profile and custom attributes.
    assert "Ada Lovelace" in content and "Europe/Paris" in content
    assert "shoe_size" in content and "38" in content
    # Timeline: newest first, labels from the event registry, value and key properties.
    entries = response.context["timeline"]
    assert [entry.event.type for entry in entries] == ["order_placed", "product_viewed"]
    assert "Placed an order" in content and "Viewed a product" in content
    assert "24.50 GBP" in content and "ORD-77" in content and "Blue Mug" in content
    assert "2 \u00d7 Blue Mug, 1 \u00d7 Tea (3 items)" in content
    assert "Total:" not in content  # the order's total is its value, shown once
    assert 'href="https://shop.example/mug"' in content
    assert entries[0].contact_time.tzinfo.key == "Europe/Paris"
    paris = timeline[1].occurred_at.astimezone(ZoneInfo("Europe/Paris"))
    assert f"{paris:%a} {paris.day} {paris:%b, %H:%M}" in content
    # Consent history, newest first, with who and where.
    history = list(response.context["consent_changes"])
    assert [change.status for change in history] == ["unsubscribed", "subscribed"]
    assert "checkout box" in content and "/checkout/" in content and "phone call" in content
    assert "data-oneonone-suppressed" in content  # unsubscribing suppressed the address


def test_timeline_is_paginated(
    admin_client: Client, contact: Contact, make_event: Callable[..., Event]
) -> None:
    for minute in range(30):
        make_event(contact, "page_viewed", minutes_ago=minute, properties={"url": f"/p/{minute}/"})
    url = reverse("oneonone_contact:inspect", args=[contact.pk])
    first = admin_client.get(url)
    second = admin_client.get(url, {"events": 2})
    assert len(first.context["timeline"]) == 25
    assert len(second.context["timeline"]) == 5
    assert first.context["timeline"][0].details[0].value == "/p/0/"


def test_unsafe_event_urls_are_not_links(
    admin_client: Client, contact: Contact, make_event: Callable[..., Event]
) -> None:
    make_event(contact, "page_viewed", properties={"url": "javascript:alert(1)"})
    content = admin_client.get(
        reverse("oneonone_contact:inspect", args=[contact.pk])
    ).content.decode()
    assert 'href="javascript:' not in content
    assert "javascript:alert(1)" in content


def test_edit_keeps_attributes_and_normalises_email(
    admin_client: Client, contact: Contact
) -> None:
    url = reverse("oneonone_contact:edit", args=[contact.pk])
    form = admin_client.get(url).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(first_name="Augusta", email="  ADA@Example.COM ")
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    contact.refresh_from_db()
    assert contact.first_name == "Augusta"
    assert contact.email == "ada@example.com"
    assert contact.attributes == {"shoe_size": 38, "vip": True}
    assert contact.consent_status == ConsentStatus.NONE


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-address", "not a valid email"),
        ("time_zone", "Mars/Olympus", "not an IANA time zone"),
        ("attributes", "[1, 2]", "expected a mapping"),
        ("attributes", "{not json", "Enter a valid JSON"),
    ],
)
def test_edit_validates(
    admin_client: Client, contact: Contact, field: str, value: str, message: str
) -> None:
    url = reverse("oneonone_contact:edit", args=[contact.pk])
    response = admin_client.post(url, {"email": contact.email, "attributes": "{}", field: value})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])


def test_form_has_no_consent_fields(admin_client: Client, contact: Contact) -> None:
    form = admin_client.get(reverse("oneonone_contact:edit", args=[contact.pk])).context["form"]
    assert not {name for name in form.fields if name.startswith("consent")}


def test_create_contact(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("oneonone_contact:add"),
        {"email": "New@Example.com", "first_name": "Nia", "attributes": '{"plan": "gold"}'},
    )
    created = Contact.objects.get(email="new@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("oneonone_contact:inspect", args=[created.pk])
    assert created.attributes == {"plan": "gold"}
    assert created.email_hash


def test_duplicate_email_is_refused(admin_client: Client, contact: Contact) -> None:
    response = admin_client.post(reverse("oneonone_contact:add"), {"email": "ADA@example.com"})
    assert response.status_code == 200
    assert "already exists" in str(response.context["form"].errors["email"])


def test_consent_form_writes_a_consent_change(
    admin_client: Client, contact: Contact, admin_user: Any
) -> None:
    url = reverse("oneonone_contact:consent", args=[contact.pk])
    response = admin_client.post(url, {"status": "subscribed", "source": "Asked in the shop"})
    assert response.status_code == 302
    contact.refresh_from_db()
    change = ConsentChange.objects.get(contact=contact)
    assert contact.consent_status == "subscribed"
    assert (change.status, change.previous_status) == ("subscribed", "none")
    assert change.source == "Asked in the shop"
    assert change.where == "Wagtail admin"
    assert change.actor == admin_user


def test_consent_form_requires_a_source(admin_client: Client, contact: Contact) -> None:
    url = reverse("oneonone_contact:consent", args=[contact.pk])
    response = admin_client.post(url, {"status": "subscribed", "source": "  "}, follow=True)
    contact.refresh_from_db()
    assert contact.consent_status == "none"
    assert not ConsentChange.objects.exists()
    assert "Consent was not changed" in response.content.decode()


def test_consent_form_needs_change_permission(
    client_for: Callable[..., Client], contact: Contact
) -> None:
    client = client_for("viewer", "wagtail_oneonone.view_contact")
    url = reverse("oneonone_contact:consent", args=[contact.pk])
    response = client.post(url, {"status": "subscribed", "source": "x"})
    assert response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")
    assert not ConsentChange.objects.exists()
    page = client.get(reverse("oneonone_contact:inspect", args=[contact.pk]))
    assert page.context["consent_form"] is None


def test_export_downloads_json(
    admin_client: Client, contact: Contact, timeline: list[Event]
) -> None:
    set_consent(contact, ConsentStatus.SUBSCRIBED, source="checkout box")
    response = admin_client.get(reverse("oneonone_contact:export", args=[contact.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith("attachment;")
    assert f"contact-{contact.pk}-" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["contact"]["email"] == "ada@example.com"
    assert data["contact"]["attributes"] == {"shoe_size": 38, "vip": True}
    assert [event["type"] for event in data["events"]] == ["product_viewed", "order_placed"]
    assert data["consent_history"][0]["source"] == "checkout box"
    assert ModelLogEntry.objects.filter(action="wagtail_oneonone.export_contact").count() == 1


def test_export_needs_its_permission(client_for: Callable[..., Client], contact: Contact) -> None:
    url = reverse("oneonone_contact:export", args=[contact.pk])
    editor = client_for(
        "editor", "wagtail_oneonone.view_contact", "wagtail_oneonone.change_contact"
    )
    refused = editor.get(url)
    assert refused.status_code == 302 and refused["Location"] == reverse("wagtailadmin_home")
    page = editor.get(reverse("oneonone_contact:inspect", args=[contact.pk]))
    assert page.context["export_url"] is None
    exporter = client_for("exporter", "wagtail_oneonone.export_contact")
    assert exporter.get(url).status_code == 200


def test_erasure_needs_the_typed_email(admin_client: Client, contact: Contact) -> None:
    url = reverse("oneonone_contact:erase", args=[contact.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and "Erase this contact" in page.content.decode()
    response = admin_client.post(url, {"confirm_email": "someone@else.com"})
    assert response.status_code == 200
    assert "not this contact" in str(response.context["form"].errors)
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_erasure_deletes_contact_and_events_keeps_suppression_and_records_it(
    admin_client: Client, contact: Contact, timeline: list[Event], admin_user: Any
) -> None:
    set_consent(contact, ConsentStatus.UNSUBSCRIBED, source="unsubscribe link")
    admin_client.post(
        reverse("oneonone_contact:edit", args=[contact.pk]),
        {"email": contact.email, "first_name": "Ada", "attributes": "{}"},
    )
    assert ModelLogEntry.objects.filter(object_id=str(contact.pk)).exists()
    digest = contact.email_hash
    response = admin_client.post(
        reverse("oneonone_contact:erase", args=[contact.pk]),
        {"confirm_email": " ADA@example.com", "reason": "GDPR request"},
    )
    assert response.status_code == 302 and response["Location"] == reverse(INDEX)
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not Event.objects.exists()
    assert not ConsentChange.objects.exists()
    assert Suppression.objects.filter(email_hash=digest).exists()
    record = ErasureRecord.objects.get()
    assert (record.email_hash, record.erased_by, record.events_deleted, record.reason) == (
        digest,
        admin_user,
        2,
        "GDPR request",
    )
    # The admin's own history held the address in its labels: gone too.
    assert not ModelLogEntry.objects.filter(
        object_id=str(contact.pk), label__contains="ada@"
    ).exists()


def test_erasure_needs_its_permission(client_for: Callable[..., Client], contact: Contact) -> None:
    client = client_for(
        "deleter", "wagtail_oneonone.delete_contact", "wagtail_oneonone.view_contact"
    )
    response = client.post(
        reverse("oneonone_contact:erase", args=[contact.pk]), {"confirm_email": contact.email}
    )
    assert response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_no_generic_delete_or_copy_urls(admin_client: Client, contact: Contact) -> None:
    assert admin_client.get(f"/admin/oneonone_contact/delete/{contact.pk}/").status_code == 404
    assert admin_client.get(f"/admin/oneonone_contact/copy/{contact.pk}/").status_code == 404


def test_suppression_listing_is_read_only_and_searchable_by_address(
    admin_client: Client, crowd: dict[str, Contact]
) -> None:
    suppress("bounced@example.net", SuppressionReason.HARD_BOUNCE)
    url = reverse("oneonone_suppression:index")
    response = admin_client.get(url)
    assert response.status_code == 200
    assert len(list(response.context["table"].rows)) == 2
    found = admin_client.get(url, {"q": "Bounced@Example.net"})
    assert [row.instance.reason for row in found.context["table"].rows] == ["hard_bounce"]
    by_reason = admin_client.get(url, {"reason": "unsubscribe"})
    assert len(list(by_reason.context["table"].rows)) == 1
    assert "bounced@example.net" not in response.content.decode()


def test_high_churn_models_stay_out_of_reference_index_and_search() -> None:
    from wagtail.search.index import class_is_indexed

    for model in (Contact, Event):
        assert not ReferenceIndex.is_indexed(model)
        assert not class_is_indexed(model)
