"""Unsubscribe: GET only shows a page; POST (RFC 8058 one-click or the button) acts."""

from __future__ import annotations

import pytest
from django.test import Client

from wagtail_oneonone.contacts.services import erase_contact, suppress
from wagtail_oneonone.models import ConsentChange, Contact, Suppression

from .conftest import assert_private, preferences_path, unsubscribe_path

pytestmark = pytest.mark.django_db

ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


def mail_client() -> Client:
    """What a mailbox provider's one-click POST looks like: no cookies, no CSRF token."""
    return Client(enforce_csrf_checks=True, HTTP_USER_AGENT="GoogleOneClick/1.0")


def state(contact: Contact) -> tuple[str, int, list[str]]:
    contact.refresh_from_db()
    return (
        contact.consent_status,
        ConsentChange.objects.filter(contact=contact).count(),
        list(Suppression.objects.values_list("reason", flat=True)),
    )


def test_get_shows_a_confirmation_page_and_changes_nothing(contact: Contact) -> None:
    before = state(contact)
    scanner = Client(HTTP_USER_AGENT="Mozilla/5.0 (compatible; SafeLinks)")
    response = scanner.get(unsubscribe_path(contact.pk, 77))
    assert response.status_code == 200
    assert_private(response)
    html = response.content.decode()
    assert "Unsubscribe a***@example.com from marketing email?" in html
    assert "ada@example.com" not in html
    assert 'method="post"' in html
    assert "oneonone tests" in html  # the site name
    assert preferences_path(contact.pk, 77) in html
    assert not response.cookies
    # Scanners also send HEAD; neither changes anything.
    assert scanner.head(unsubscribe_path(contact.pk, 77)).status_code == 200
    assert state(contact) == before == ("subscribed", 1, [])


def test_rfc8058_one_click_post_without_cookies_or_csrf_token(contact: Contact) -> None:
    response = mail_client().post(unsubscribe_path(contact.pk, 77), ONE_CLICK, content_type=FORM)
    assert response.status_code == 200
    assert "Location" not in response
    assert_private(response)
    assert not response.cookies
    assert "You are unsubscribed" in response.content.decode()
    contact.refresh_from_db()
    assert contact.consent_status == "unsubscribed"
    change = contact.consent_changes.first()
    assert change is not None
    assert (change.status, change.previous_status) == ("unsubscribed", "subscribed")
    assert change.source == "one-click unsubscribe"
    assert change.where == "message 77"
    suppression = Suppression.objects.get(email_hash=contact.email_hash)
    assert suppression.reason == "unsubscribe"
    assert not Contact.objects.mailable().filter(pk=contact.pk).exists()


def test_one_click_as_multipart(contact: Contact) -> None:
    response = mail_client().post(unsubscribe_path(contact.pk), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    change = ConsentChange.objects.filter(contact=contact).first()
    assert change is not None
    assert (change.source, change.where) == ("one-click unsubscribe", "unsubscribe link")


def test_repeated_post_is_still_200_and_writes_one_audit_row(contact: Contact) -> None:
    client = mail_client()
    for _ in range(3):
        response = client.post(unsubscribe_path(contact.pk, 77), ONE_CLICK, content_type=FORM)
        assert response.status_code == 200
    assert state(contact) == ("unsubscribed", 2, ["unsubscribe"])


def test_the_pages_button_unsubscribes_too(contact: Contact) -> None:
    client = Client(enforce_csrf_checks=True)
    path = unsubscribe_path(contact.pk)
    assert client.get(path).status_code == 200
    response = client.post(path, {"confirm": "1"})
    assert response.status_code == 200
    change = ConsentChange.objects.filter(contact=contact).first()
    assert change is not None
    assert (change.source, change.where) == ("unsubscribe page", "unsubscribe link")
    # Visiting again says so, and offers the way back.
    html = client.get(path).content.decode()
    assert "already unsubscribed" in html
    assert preferences_path(contact.pk) in html


def test_unsubscribing_again_restores_a_suppression_lifted_by_hand(contact: Contact) -> None:
    path = unsubscribe_path(contact.pk)
    mail_client().post(path, ONE_CLICK, content_type=FORM)
    Suppression.objects.all().delete()
    assert mail_client().post(path, ONE_CLICK, content_type=FORM).status_code == 200
    assert state(contact) == ("unsubscribed", 2, ["unsubscribe"])


def test_a_bounce_suppression_stays_a_bounce(contact: Contact) -> None:
    suppress(contact.email, "hard_bounce", detail="550 no such user")
    mail_client().post(unsubscribe_path(contact.pk), ONE_CLICK, content_type=FORM)
    assert state(contact) == ("unsubscribed", 2, ["hard_bounce"])


@pytest.mark.parametrize("method", ["get", "post"])
def test_forged_or_truncated_token_answers_400_and_changes_nothing(
    contact: Contact, method: str
) -> None:
    good = unsubscribe_path(contact.pk, 77)
    token = good.rstrip("/").rsplit("/", 1)[1]
    forged = [
        good.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B")),
        good.replace(token, token[:-5]),
        good.replace(token, "2" + token[1:] if token[0] != "2" else "3" + token[1:]),
        preferences_path(contact.pk, 77).replace("preferences", "unsubscribe"),
        "/email/unsubscribe/nonsense/",
    ]
    before = state(contact)
    client = mail_client()
    for path in forged:
        if method == "post":
            response = client.post(path, ONE_CLICK, content_type=FORM)
        else:
            response = client.get(path)
        assert response.status_code == 400, path
        assert_private(response)
        assert "This link does not work" in response.content.decode()
    assert state(contact) == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_erased_contact_has_nothing_to_unsubscribe(contact: Contact, method: str) -> None:
    path = unsubscribe_path(contact.pk, 77)
    erase_contact(contact)
    client = mail_client()
    if method == "post":
        response = client.post(path, ONE_CLICK, content_type=FORM)
    else:
        response = client.get(path)
    assert response.status_code == 200
    assert "nothing to unsubscribe" in response.content.decode()
    assert not Contact.objects.exists()


def test_other_methods_are_refused(contact: Contact) -> None:
    assert Client().put(unsubscribe_path(contact.pk)).status_code == 405
    assert state(contact) == ("subscribed", 1, [])


def test_a_contact_without_consent_can_unsubscribe(db: None) -> None:
    contact = Contact.objects.create(email="bob@example.com")
    response = mail_client().post(unsubscribe_path(contact.pk), ONE_CLICK, content_type=FORM)
    assert response.status_code == 200
    assert state(contact) == ("unsubscribed", 1, ["unsubscribe"])
