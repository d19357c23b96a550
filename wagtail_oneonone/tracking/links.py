"""Absolute URLs and ``List-Unsubscribe`` headers for the email the app sends."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLResolver, get_resolver, get_script_prefix, get_urlconf, reverse

from ..conf import SETTING_NAME, app_settings
from .tokens import PREFERENCES, UNSUBSCRIBE, make_token


def site_base_url() -> str:
    """The site's absolute URL for links in email, without a trailing slash."""
    base = app_settings.BASE_URL or getattr(settings, "WAGTAILADMIN_BASE_URL", None)
    if not base:
        raise ImproperlyConfigured(
            f"Links in email need the site's absolute URL: set {SETTING_NAME}['BASE_URL'] "
            "(or WAGTAILADMIN_BASE_URL), e.g. 'https://shop.example'."
        )
    parts = urlsplit(str(base))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['BASE_URL'] (or WAGTAILADMIN_BASE_URL) must be an absolute "
            f"http(s) URL such as 'https://shop.example', not {base!r}."
        )
    return str(base).rstrip("/")


def unsubscribe_url(contact_id: int, message_id: int | None = None) -> str:
    """The one-click unsubscribe URL: GET shows a page, POST unsubscribes."""
    token = make_token(contact_id, UNSUBSCRIBE, message_id)
    return site_base_url() + token_path("wagtail_oneonone:unsubscribe", token)


def preferences_url(contact_id: int, message_id: int | None = None) -> str:
    """The contact's preference centre."""
    token = make_token(contact_id, PREFERENCES, message_id)
    return site_base_url() + token_path("wagtail_oneonone:preferences", token)


#: Stands for the token while a path is reversed once; tokens never contain it.
_TOKEN_PLACEHOLDER = "oneonone-token-placeholder"


def token_path(view_name: str, token: str) -> str:
    """``reverse(view_name, args=[token])``, reversed once per URLconf and script prefix.

    Every email has two such links: reversing each anew costs more than signing it.
    """
    urlconf = get_urlconf()
    resolver = get_resolver(urlconf)
    path = _path_with_placeholder(resolver, urlconf, get_script_prefix(), view_name)
    return path.replace(_TOKEN_PLACEHOLDER, token)


@lru_cache(maxsize=32)
def _path_with_placeholder(
    resolver: URLResolver, urlconf: str | None, script_prefix: str, view_name: str
) -> str:
    # Django keeps one resolver per URLconf until its URL caches are cleared (as a change
    # of ROOT_URLCONF does), so a changed URLconf comes with a new key here.
    return reverse(view_name, urlconf=urlconf, args=[_TOKEN_PLACEHOLDER])


def unsubscribe_mailto(contact_id: int, message_id: int | None = None) -> str | None:
    """``mailto:`` unsubscribe URI with the signed token as subject, if an address is set."""
    address = app_settings.UNSUBSCRIBE_MAILTO
    if not address:
        return None
    # The token's characters (digits, '.', URL-safe base64) need no escaping in a URI.
    token = make_token(contact_id, UNSUBSCRIBE, message_id)
    return f"mailto:{quote(str(address), safe='@+')}?subject=unsubscribe-{token}"


def list_unsubscribe_headers(
    contact_id: int, message_id: int | None, *, url: str | None = None
) -> dict[str, str]:
    """``List-Unsubscribe`` (RFC 2369) and ``List-Unsubscribe-Post`` (RFC 8058) headers.

    ``url`` is the message's :func:`unsubscribe_url` when the caller already made it.
    """
    uris = [url or unsubscribe_url(contact_id, message_id)]
    mailto = unsubscribe_mailto(contact_id, message_id)
    if mailto:
        uris.append(mailto)
    return {
        "List-Unsubscribe": ", ".join(f"<{uri}>" for uri in uris),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
