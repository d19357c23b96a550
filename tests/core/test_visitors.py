"""Anonymous visitors, their cookie, merging on identify and login, and page views."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from wagtail_oneonone.models import Contact, Event

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"


@pytest.fixture
def browser() -> Client:
    return Client(HTTP_USER_AGENT=BROWSER)


def test_page_view_sets_visitor_cookie_and_records_event(browser: Client) -> None:
    response = browser.get("/")
    assert response.status_code == 200
    cookie = response.cookies["oneonone_vid"]
    assert cookie["httponly"]
    event = Event.objects.get()
    assert event.type == "page_viewed"
    assert event.visitor_id == cookie.value
    assert event.contact_id is None
    assert event.properties["url"] == "/"
    assert event.properties["page_id"] > 0
    # The same browser keeps its id.
    browser.get("/")
    assert set(Event.objects.values_list("visitor_id", flat=True)) == {cookie.value}


@pytest.mark.parametrize(
    "agent",
    ["", "Googlebot/2.1 (+http://www.google.com/bot.html)", "curl/8.5", "HeadlessChrome/120"],
)
def test_bots_are_not_counted(agent: str) -> None:
    assert Client(HTTP_USER_AGENT=agent).get("/").status_code == 200
    assert not Event.objects.exists()


def test_only_successful_gets_count(browser: Client) -> None:
    assert browser.get("/no-such-page/").status_code == 404
    browser.head("/")
    assert not Event.objects.exists()


@override_settings(WAGTAIL_ONEONONE={"TRACK_PAGE_VIEWS": False})
def test_page_views_can_be_switched_off(browser: Client) -> None:
    assert browser.get("/").status_code == 200
    assert not Event.objects.exists()


def test_login_merges_the_visitors_history_into_the_users_contact(browser: Client) -> None:
    browser.get("/")
    user = get_user_model().objects.create_user("oli", "oli@example.com", "pw")
    # A real login through a login view, so the signal sees this browser's cookies.
    response = browser.post("/admin/login/", {"username": "oli", "password": "pw"})
    assert response.status_code == 302
    contact = Contact.objects.get(user=user)
    assert Event.objects.get().contact == contact
    # After login, views are recorded against the contact.
    browser.get("/")
    assert Event.objects.filter(contact=contact).count() == 2


def test_identified_browser_is_remembered_by_signed_cookie(browser: Client) -> None:
    from django.http import HttpResponse
    from django.test import RequestFactory

    from wagtail_oneonone import identify
    from wagtail_oneonone.visitors import apply_cookies

    request = RequestFactory().get("/")
    request.COOKIES["oneonone_vid"] = "0b9b1c3a-8f8e-4a55-9a55-0f9e4a6b7c1d"
    contact = identify("pam@example.com", request=request)
    response = HttpResponse()
    apply_cookies(request, response)
    browser.cookies["oneonone_cid"] = response.cookies["oneonone_cid"].value
    browser.get("/")
    assert Event.objects.get().contact == contact
    # A forged contact cookie is ignored: the view is anonymous.
    Event.objects.all().delete()
    forger = Client(HTTP_USER_AGENT=BROWSER)
    forger.cookies["oneonone_cid"] = f"{contact.pk}:forged:signature"
    forger.get("/")
    assert Event.objects.get().contact_id is None


def test_malformed_visitor_cookie_is_replaced(browser: Client) -> None:
    browser.cookies["oneonone_vid"] = "<script>"
    response = browser.get("/")
    assert response.cookies["oneonone_vid"].value != "<script>"
    assert Event.objects.get().visitor_id == response.cookies["oneonone_vid"].value


def test_staff_are_neither_counted_nor_made_contacts(browser: Client) -> None:
    get_user_model().objects.create_user("sam", "sam@example.com", "pw", is_staff=True)
    browser.post("/admin/login/", {"username": "sam", "password": "pw"})
    browser.get("/")
    assert not Contact.objects.exists()
    assert not Event.objects.exists()


@override_settings(WAGTAIL_ONEONONE={"TRACK_STAFF": True})
def test_staff_can_be_tracked_when_asked(browser: Client) -> None:
    get_user_model().objects.create_user("sam", "sam@example.com", "pw", is_staff=True)
    browser.post("/admin/login/", {"username": "sam", "password": "pw"})
    browser.get("/")
    assert Event.objects.get().contact == Contact.objects.get(email="sam@example.com")


def test_staff_who_are_also_customers_are_linked() -> None:
    customer = Contact.objects.create(email="tia@example.com")
    user = get_user_model().objects.create_user("tia", "tia@example.com", "pw", is_staff=True)
    client = Client(HTTP_USER_AGENT=BROWSER)
    client.post("/admin/login/", {"username": "tia", "password": "pw"})
    customer.refresh_from_db()
    assert customer.user == user


@pytest.mark.parametrize(
    "agent",
    [
        "Python-urllib/3.11",
        "python-httpx/0.27",
        "Go-http-client/1.1",
        "okhttp/4.12",
        "Scrapy/2.11",
    ],
)
def test_http_libraries_are_not_people(agent: str) -> None:
    Client(HTTP_USER_AGENT=agent).get("/")
    assert not Event.objects.exists()
