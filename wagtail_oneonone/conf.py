"""Settings for wagtail-oneonone, read from ``settings.WAGTAIL_ONEONONE`` when used."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

SETTING_NAME = "WAGTAIL_ONEONONE"

#: Every key the app understands, with its default. ``docs/settings.md`` documents each.
DEFAULTS: dict[str, Any] = {
    # Events
    "MAX_EVENT_PROPERTIES_BYTES": 16_384,
    "MAX_EVENT_FUTURE_SECONDS": 3600,
    "DEFAULT_CURRENCY": "GBP",
    # Anonymous visitors
    "VISITOR_COOKIE_NAME": "oneonone_vid",
    "CONTACT_COOKIE_NAME": "oneonone_cid",
    "VISITOR_COOKIE_AGE": 60 * 60 * 24 * 365,
    "VISITOR_COOKIE_SECURE": False,
    # Wagtail page-serve hook
    "TRACK_PAGE_VIEWS": True,
    # Staff (is_staff) browsing the site: not counted, and never made contacts by login
    "TRACK_STAFF": False,
    "BOT_USER_AGENT_PATTERN": (
        r"bot|crawl|spider|slurp|preview|monitor|headless|lighthouse|scan|check|fetch"
        r"|curl|wget|python|httpx|aiohttp|go-http-client|okhttp|axios|node|java/|libwww"
        r"|scrapy|phantomjs|facebookexternalhit|embedly|mediapartners"
    ),
    # The worker's clock: a dotted path to a function returning an aware datetime (None:
    # django.utils.timezone.now). For tests and demos that move time forward.
    "CLOCK": None,
    # Contacts
    "DEFAULT_TIME_ZONE": None,  # None: settings.TIME_ZONE
    "MERGE_ON_LOGIN": True,
    # CSV import
    "IMPORT_BATCH_SIZE": 500,
    "IMPORT_MAX_ROWS": 200_000,
    "IMPORT_MAX_FILE_BYTES": 50 * 1024 * 1024,
    # Sending
    "BASE_URL": None,  # absolute URL of the site for links in email; None: WAGTAILADMIN_BASE_URL
    "FROM_EMAIL": None,  # None: settings.DEFAULT_FROM_EMAIL
    "REPLY_TO": None,  # a real person's address; None: no Reply-To header
    "LIST_ID": None,  # e.g. "Oak & Thread news <news.shop.example>"; None: built from BASE_URL
    "UNSUBSCRIBE_MAILTO": None,  # an address for mailto: List-Unsubscribe; None: https only
    "TOPICS": {"offers": "Offers and sales", "news": "News and new products"},
    "FREQUENCY_CAP": {"max_messages": 3, "window_hours": 168, "min_gap_hours": 16},
    "QUIET_HOURS": {"start": 21, "end": 8},  # local hours; None switches quiet hours off
    "SEND_BATCH_SIZE": 50,
    "HANDOFF_GROUP_SIZE": 50,
    "LEASE_SECONDS": 300,
    "MAX_SEND_ATTEMPTS": 5,
    "RETRY_BACKOFF_SECONDS": 60,
    "RATE_LIMIT_PER_SECOND": None,  # per email backend; None: unlimited
    "KILL_SWITCH": {
        "window_hours": 24,
        "min_sent": 100,
        "bounce_rate": 0.05,
        "complaint_rate": 0.003,
    },
    # Segments
    # What counts as engagement for "active" and "dormant": email and site activity.
    "ENGAGEMENT_EVENT_TYPES": [
        "email_opened",
        "email_clicked",
        "email_replied",
        "page_viewed",
        "product_viewed",
        "cart_updated",
        "checkout_started",
        "order_placed",
    ],
    # Lifecycle stages by order recency (days) and frequency; see docs/segments.md.
    "LIFECYCLE": {"new_days": 30, "active_days": 90, "lapsed_days": 180, "repeat_orders": 2},
    # Templates
    "MAX_TEMPLATE_BYTES": 200_000,
    "MAX_RENDERED_BYTES": 500_000,
    "MAX_LOOP_ITEMS": 1000,
    "RECENT_EVENTS_IN_CONTEXT": 20,
}


class AppSettings:
    """Lazy access to ``WAGTAIL_ONEONONE``; every read sees the current settings."""

    def _user_settings(self) -> dict[str, Any]:
        value = getattr(django_settings, SETTING_NAME, {})
        if not isinstance(value, dict):
            raise ImproperlyConfigured(
                f"{SETTING_NAME} must be a dict, not {type(value).__name__}."
            )
        return value

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"{SETTING_NAME} has no setting {name!r}")
        return self._user_settings().get(name, DEFAULTS[name])

    def unknown_keys(self) -> list[str]:
        return sorted(set(self._user_settings()) - set(DEFAULTS))

    @property
    def default_time_zone(self) -> str:
        return self.DEFAULT_TIME_ZONE or django_settings.TIME_ZONE or "UTC"

    def clock(self) -> Callable[[], dt.datetime]:
        """The function the worker's tasks read the time from (``CLOCK``)."""
        if not self.CLOCK:
            return timezone.now
        clock: Callable[[], dt.datetime] = import_string(self.CLOCK)
        return clock


app_settings = AppSettings()
