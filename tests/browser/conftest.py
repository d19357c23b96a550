"""Fixtures for driving the admin in headless Chromium through Playwright's sync API."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None if they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not os.path.exists(CHROMIUM):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = browser_unavailable()
    if reason:
        if os.environ.get("ONEONONE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here, but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    # A loaded two-core CI machine can take longer than expect()'s 5 s default to answer
    # a debounced request; actions already wait 15 s (the page fixture).
    expect.set_options(timeout=15_000)
    # Playwright's sync API runs an event loop in this thread; while it runs, Django would
    # refuse the tests' own database queries as "called from an async context".
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(autouse=True)
def browser_settings(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WAGTAIL_ONEONONE = {"MERGE_ON_LOGIN": False}


@pytest.fixture
def page_tree(transactional_db: None) -> None:
    """Transactional tests flush Wagtail's root page; the admin dashboard needs one."""
    from django.conf import settings
    from wagtail.models import Locale, Page, Site

    Locale.objects.get_or_create(language_code=settings.LANGUAGE_CODE)
    if not Page.objects.filter(depth=1).exists():
        root = Page.add_root(title="Root", slug="root")
        Site.objects.create(hostname="localhost", root_page=root, is_default_site=True)


@pytest.fixture
def superuser(transactional_db: None, page_tree: None, django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("boss", "boss@shop.example", PASSWORD)


@pytest.fixture
def logged_in(page: Any, live_server: Any, superuser: Any) -> Callable[[str], Any]:
    """Logs in through the admin's login form; returns a function opening admin paths."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    def open_path(path: str) -> Any:
        page.goto(f"{live_server.url}{path}")
        return page

    return open_path
