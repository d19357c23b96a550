"""The preference centre: frequency, topics, pause, resubscribe, unsubscribe."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from wagtail_oneonone.contacts.services import set_consent, suppress
from wagtail_oneonone.exceptions import ContactValidationError
from wagtail_oneonone.models import ConsentChange, Contact, Suppression
from wagtail_oneonone.tracking.preferences import mask_email, save_preferences

from .conftest import assert_private, preferences_path, unsubscribe_path

pytestmark = pytest.mark.django_db


def save(client: Client, path: str, **data: Any) -> Any:
    data = {"action": "save", "frequency": "normal", "topics": ["offers", "news"], **data}
    return client.post(path, data)


def test_page_shows_the_current_settings_without_login(contact: Contact) -> None:
    response = Client().get(preferences_path(contact.pk, 77))
    assert response.status_code == 200
    assert_private(response)
    html = response.content.decode()
    assert "a***@example.com" in html
    assert "ada@example.com" not in html
    assert "You are subscribed" in html
    assert "Offers and sales" in html and "News and new products" in html
    assert "At most one a week" in html
    assert "For 12 weeks" in html
    assert "Unsubscribe from all marketing email" in html


def test_change_frequency_topics_and_pause(contact: Contact) -> None:
    client = Client(enforce_csrf_checks=True)
    path = preferences_path(contact.pk, 77)
    client.get(path)  # sets the CSRF cookie, as a browser would get it
    response = client.post(
        path,
        {
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
            "action": "save",
            "frequency": "weekly",
            "topics": ["news"],
            "pause": "4",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"{path}?done=saved"
    contact.refresh_from_db()
    assert contact.email_frequency == "weekly"
    assert contact.topics_opted_out == ["offers"]
    assert contact.paused_until is not None
    expected = timezone.now() + dt.timedelta(weeks=4)
    assert abs(contact.paused_until - expected) < dt.timedelta(minutes=1)
    assert contact.consent_status == "subscribed"
    assert ConsentChange.objects.filter(contact=contact).count() == 1  # no consent change

    html = client.get(response["Location"]).content.decode()
    assert "Saved." in html
    assert "Marketing email is paused until" in html
    assert "Stay paused until" in html


def test_csrf_is_checked_on_the_preference_centre(contact: Contact) -> None:
    client = Client(enforce_csrf_checks=True)
    assert save(client, preferences_path(contact.pk), frequency="weekly").status_code == 403
    contact.refresh_from_db()
    assert contact.email_frequency == "normal"


def test_unknown_topics_are_dropped_and_old_opt_outs_kept(contact: Contact) -> None:
    Contact.objects.filter(pk=contact.pk).update(topics_opted_out=["retired-topic"])
    response = save(Client(), preferences_path(contact.pk), topics=["news", "bogus", "<x>"])
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.topics_opted_out == ["offers", "retired-topic"]


def test_all_topics_off_and_back_on(contact: Contact) -> None:
    path = preferences_path(contact.pk)
    save(Client(), path, topics=[])
    contact.refresh_from_db()
    assert contact.topics_opted_out == ["offers", "news"]
    save(Client(), path)
    contact.refresh_from_db()
    assert contact.topics_opted_out == []


def test_invalid_frequency_is_refused_and_nothing_changes(contact: Contact) -> None:
    response = save(Client(), preferences_path(contact.pk), frequency="hourly", topics=[])
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    contact.refresh_from_db()
    assert (contact.email_frequency, contact.topics_opted_out) == ("normal", [])


def test_pause_keep_and_resume(contact: Contact) -> None:
    path = preferences_path(contact.pk)
    until = timezone.now() + dt.timedelta(weeks=2)
    Contact.objects.filter(pk=contact.pk).update(paused_until=until)
    # Saving other choices keeps the pause.
    save(Client(), path, frequency="monthly", pause="keep")
    contact.refresh_from_db()
    assert (contact.email_frequency, contact.paused_until) == ("monthly", until)
    # "Resume now" in the form, or the button, clears it.
    save(Client(), path, frequency="monthly", pause="0")
    contact.refresh_from_db()
    assert contact.paused_until is None
    Contact.objects.filter(pk=contact.pk).update(paused_until=until)
    response = Client().post(path, {"action": "resume"})
    assert response["Location"].endswith("?done=resumed")
    contact.refresh_from_db()
    assert contact.paused_until is None


def test_pause_choices_are_limited(contact: Contact) -> None:
    response = save(Client(), preferences_path(contact.pk), pause="3")
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.paused_until is None


def test_resubscribe_lifts_the_unsubscribe_suppression(contact: Contact) -> None:
    Client().post(
        unsubscribe_path(contact.pk),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    path = preferences_path(contact.pk, 88)
    html = Client().get(path).content.decode()
    assert "You are unsubscribed" in html
    assert "Subscribe again" in html

    response = Client().post(path, {"action": "resubscribe"})
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.consent_status == "subscribed"
    assert not Suppression.objects.exists()
    assert Contact.objects.mailable().filter(pk=contact.pk).exists()
    change = contact.consent_changes.first()
    assert change is not None
    assert (change.status, change.source, change.where) == (
        "subscribed",
        "preference centre",
        "message 88",
    )
    assert "Welcome back" in Client().get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("reason", "text"),
    [("hard_bounce", "bounced"), ("complaint", "reported as spam"), ("manual", "stopped all")],
)
def test_a_bounced_or_complaining_address_stays_suppressed(
    contact: Contact, reason: str, text: str
) -> None:
    set_consent(contact, "unsubscribed", source="test")
    suppress(contact.email, reason)
    path = preferences_path(contact.pk)
    response = Client().post(path, {"action": "resubscribe"})
    html = Client().get(response["Location"]).content.decode()
    contact.refresh_from_db()
    assert contact.consent_status == "subscribed"
    assert Suppression.objects.get().reason == reason
    assert not Contact.objects.mailable().filter(pk=contact.pk).exists()
    assert text in html


def test_unsubscribe_from_everything(contact: Contact) -> None:
    path = preferences_path(contact.pk)
    response = Client().post(path, {"action": "unsubscribe"})
    assert response["Location"].endswith("?done=unsubscribed")
    contact.refresh_from_db()
    assert contact.consent_status == "unsubscribed"
    assert contact.consent_changes.first().source == "preference centre"  # type: ignore[union-attr]
    assert Suppression.objects.get().reason == "unsubscribe"


def test_staff_subscribed_yet_still_suppressed_by_own_unsubscribe(contact: Contact) -> None:
    suppress(contact.email, "unsubscribe")
    path = preferences_path(contact.pk)
    assert "Subscribe" in Client().get(path).content.decode()
    Client().post(path, {"action": "resubscribe"})
    assert not Suppression.objects.exists()
    assert ConsentChange.objects.filter(contact=contact).count() == 1


def test_bad_and_wrong_purpose_tokens_answer_400(contact: Contact) -> None:
    for path in (
        unsubscribe_path(contact.pk).replace("unsubscribe", "preferences"),
        preferences_path(contact.pk)[:-6] + "/",
    ):
        assert Client().get(path).status_code == 400
        response = Client().post(path, {"action": "unsubscribe"})
        assert response.status_code == 400
    contact.refresh_from_db()
    assert contact.consent_status == "subscribed"


def test_erased_contact(contact: Contact) -> None:
    path = preferences_path(contact.pk)
    Contact.objects.all().delete()
    response = Client().get(path)
    assert response.status_code == 200
    assert "no preferences to change" in response.content.decode()


@override_settings(WAGTAIL_ONEONONE={"TOPICS": {}})
def test_no_topics_configured(contact: Contact) -> None:
    path = preferences_path(contact.pk)
    html = Client().get(path).content.decode()
    assert "What about" not in html
    assert save(Client(), path, topics=[]).status_code == 302


def test_save_preferences_validates_and_reports_changes(contact: Contact) -> None:
    assert save_preferences(contact, frequency="normal", topics_opted_out=[]) == []
    assert save_preferences(contact, frequency="weekly", pause_weeks=2) == [
        "email_frequency",
        "paused_until",
    ]
    with pytest.raises(ContactValidationError):
        save_preferences(contact, frequency="daily")
    with pytest.raises(ContactValidationError):
        save_preferences(contact, pause_weeks=53)
    assert save_preferences(contact, topics_opted_out=["bogus"]) == []


@pytest.mark.parametrize(
    ("email", "masked"),
    [("ada@example.com", "a***@example.com"), ("a@b.co", "a***@b.co"), ("odd", "o***")],
)
def test_mask_email(email: str, masked: str) -> None:
    assert mask_email(email) == masked
