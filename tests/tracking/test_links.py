"""Absolute links and the List-Unsubscribe headers (RFC 2369, RFC 8058)."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.test import override_settings
from django.urls import get_script_prefix, include, path, resolve, reverse, set_script_prefix

from wagtail_oneonone.tracking.links import (
    list_unsubscribe_headers,
    preferences_url,
    site_base_url,
    unsubscribe_mailto,
    unsubscribe_url,
)
from wagtail_oneonone.tracking.tokens import read_token

SHOP = {"BASE_URL": "https://shop.example/"}
SHOP_WITH_MAILTO = {**SHOP, "UNSUBSCRIBE_MAILTO": "unsubscribe@shop.example"}


def test_base_url_prefers_the_apps_setting_and_drops_the_trailing_slash() -> None:
    assert site_base_url() == "http://testserver"  # WAGTAILADMIN_BASE_URL in test settings
    with override_settings(WAGTAIL_ONEONONE=SHOP):
        assert site_base_url() == "https://shop.example"


@override_settings(WAGTAIL_ONEONONE={}, WAGTAILADMIN_BASE_URL=None)
def test_base_url_unconfigured_names_the_setting() -> None:
    with pytest.raises(ImproperlyConfigured, match=re.escape("WAGTAIL_ONEONONE['BASE_URL']")):
        site_base_url()
    with pytest.raises(ImproperlyConfigured):
        unsubscribe_url(1)


@pytest.mark.parametrize("base", ["shop.example", "/email", "ftp://shop.example", "https://"])
def test_base_url_must_be_absolute_http(base: str) -> None:
    with (
        override_settings(WAGTAIL_ONEONONE={"BASE_URL": base}),
        pytest.raises(ImproperlyConfigured, match="absolute"),
    ):
        site_base_url()


@override_settings(WAGTAIL_ONEONONE=SHOP)
def test_urls_are_absolute_and_resolve_to_the_views() -> None:
    url = unsubscribe_url(42, 1234)
    assert url.startswith("https://shop.example/email/unsubscribe/")
    match = resolve(url.removeprefix("https://shop.example"))
    assert match.view_name == "wagtail_oneonone:unsubscribe"
    link = read_token(match.kwargs["token"], "unsubscribe")
    assert (link.contact_id, link.message_id) == (42, 1234)

    url = preferences_url(42)
    assert url.startswith("https://shop.example/email/preferences/")
    match = resolve(url.removeprefix("https://shop.example"))
    assert match.view_name == "wagtail_oneonone:preferences"
    assert read_token(match.kwargs["token"], "preferences").message_id is None


#: A site that mounts the app's URLs elsewhere (``ROOT_URLCONF`` = this module).
urlpatterns = [path("mail/", include("wagtail_oneonone.urls"))]


@override_settings(WAGTAIL_ONEONONE=SHOP)
def test_links_follow_where_the_site_mounts_the_app() -> None:
    url = unsubscribe_url(42, 1234)
    assert url.startswith("https://shop.example/email/unsubscribe/")
    assert url.removeprefix("https://shop.example") == reverse(
        "wagtail_oneonone:unsubscribe", args=[url.rstrip("/").rsplit("/", 1)[1]]
    )
    with override_settings(ROOT_URLCONF=__name__):
        assert unsubscribe_url(42, 1234) == url.replace("/email/", "/mail/")
        assert preferences_url(42).startswith("https://shop.example/mail/preferences/")
    prefix = get_script_prefix()
    set_script_prefix("/site/")
    try:
        assert unsubscribe_url(42, 1234) == url.replace("/email/", "/site/email/")
    finally:
        set_script_prefix(prefix)
    assert unsubscribe_url(42, 1234) == url


@override_settings(WAGTAIL_ONEONONE=SHOP)
def test_headers_without_mailto() -> None:
    headers = list_unsubscribe_headers(42, 1234)
    assert headers == {
        "List-Unsubscribe": f"<{unsubscribe_url(42, 1234)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert unsubscribe_mailto(42, 1234) is None


@override_settings(WAGTAIL_ONEONONE=SHOP_WITH_MAILTO)
def test_headers_with_mailto_https_first_in_angle_brackets_comma_separated() -> None:
    headers = list_unsubscribe_headers(42, 1234)
    assert set(headers) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    value = headers["List-Unsubscribe"]
    match = re.fullmatch(
        r"<(https://shop\.example/email/unsubscribe/[^<>\s,]+/)>, "
        r"<mailto:unsubscribe@shop\.example\?subject=unsubscribe-([^<>\s,]+)>",
        value,
    )
    assert match, value
    assert match.group(1) == unsubscribe_url(42, 1234)
    mailed = read_token(match.group(2), "unsubscribe")
    assert (mailed.contact_id, mailed.message_id) == (42, 1234)
    assert "@" not in match.group(1)  # no address in the https link


@override_settings(WAGTAIL_ONEONONE=SHOP_WITH_MAILTO)
def test_headers_survive_a_real_email_message() -> None:
    headers = list_unsubscribe_headers(42, None)
    message = EmailMessage("Hi", "Body", "shop@shop.example", ["ada@example.com"], headers=headers)
    parsed = message.message()
    assert " ".join(parsed["List-Unsubscribe"].split()) == headers["List-Unsubscribe"]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
