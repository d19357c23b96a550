"""System checks: ``wagtail_oneonone.E001``..."""

from __future__ import annotations

import difflib
import re
from typing import Any

from django.core.checks import CheckMessage, Error, Warning, register

from .conf import DEFAULTS, SETTING_NAME, app_settings


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    try:
        unknown = app_settings.unknown_keys()
    except Exception as exc:  # ImproperlyConfigured: not a dict
        return [Error(str(exc), id="wagtail_oneonone.E001")]
    for key in unknown:
        close = difflib.get_close_matches(key, DEFAULTS, n=1)
        hint = f"Did you mean {close[0]!r}?" if close else "See docs/settings.md for the keys."
        messages.append(
            Error(
                f"{SETTING_NAME} has an unknown key {key!r}.",
                hint=hint,
                id="wagtail_oneonone.E002",
            )
        )
    try:
        re.compile(app_settings.BOT_USER_AGENT_PATTERN)
    except re.error as exc:
        messages.append(
            Error(
                f"{SETTING_NAME}['BOT_USER_AGENT_PATTERN'] is not a valid "
                f"regular expression: {exc}",
                id="wagtail_oneonone.E003",
            )
        )
    currency = app_settings.DEFAULT_CURRENCY
    if not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
        messages.append(
            Error(
                f"{SETTING_NAME}['DEFAULT_CURRENCY'] must be a three-letter ISO 4217 code "
                f"such as 'GBP', not {currency!r}.",
                id="wagtail_oneonone.E004",
            )
        )
    from zoneinfo import available_timezones

    if (
        app_settings.DEFAULT_TIME_ZONE
        and app_settings.DEFAULT_TIME_ZONE not in available_timezones()
    ):
        messages.append(
            Error(
                f"{SETTING_NAME}['DEFAULT_TIME_ZONE'] {app_settings.DEFAULT_TIME_ZONE!r} "
                "is not an IANA time zone.",
                id="wagtail_oneonone.E005",
            )
        )
    messages.extend(_positive_integers("SEND_BATCH_SIZE", "HANDOFF_GROUP_SIZE"))
    messages.extend(_clock())
    messages.extend(_segment_settings())
    return messages


def _segment_settings() -> list[CheckMessage]:
    """Settings segments read when compiled: a bad one would fail every count."""
    from .events.types import registered_event_types

    messages: list[CheckMessage] = []
    types = app_settings.ENGAGEMENT_EVENT_TYPES
    known = {event_type.name for event_type in registered_event_types()}
    if (
        not isinstance(types, list | tuple)
        or not types
        or not all(isinstance(name, str) for name in types)
    ):
        messages.append(
            Error(
                f"{SETTING_NAME}['ENGAGEMENT_EVENT_TYPES'] must be a non-empty list of event "
                f"type names, not {types!r}.",
                id="wagtail_oneonone.E015",
            )
        )
    else:
        for name in types:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                messages.append(
                    Warning(
                        f"{SETTING_NAME}['ENGAGEMENT_EVENT_TYPES'] names {name!r}, which is "
                        "not a registered event type (yet).",
                        hint=f"Did you mean {close[0]!r}?" if close else None,
                        id="wagtail_oneonone.W003",
                    )
                )
    lifecycle = app_settings.LIFECYCLE
    keys = ("new_days", "active_days", "lapsed_days", "repeat_orders")
    valid = isinstance(lifecycle, dict) and set(lifecycle) <= set(keys)
    values = {**DEFAULTS["LIFECYCLE"], **lifecycle} if valid else {}
    if valid and not all(
        isinstance(values[key], int) and not isinstance(values[key], bool) and values[key] >= 1
        for key in keys
    ):
        valid = False
    if valid and not values["new_days"] <= values["active_days"] < values["lapsed_days"]:
        valid = False
    if not valid:
        messages.append(
            Error(
                f"{SETTING_NAME}['LIFECYCLE'] must be a dict of whole numbers of at least 1 "
                f"with keys among {', '.join(keys)}, and new_days ≤ active_days < "
                f"lapsed_days; not {lifecycle!r}.",
                hint=f"The default is {DEFAULTS['LIFECYCLE']}; see docs/segments.md.",
                id="wagtail_oneonone.E016",
            )
        )
    return messages


def _clock() -> list[CheckMessage]:
    """``CLOCK`` names a function that can be imported."""
    if not app_settings.CLOCK:
        return []
    try:
        clock = app_settings.clock()
    except (ImportError, ValueError) as exc:
        problem = f"cannot be imported ({exc})"
    else:
        if callable(clock):
            return []
        problem = "is not a function"
    return [
        Error(
            f"{SETTING_NAME}['CLOCK'] = {app_settings.CLOCK!r} {problem}.",
            hint="A dotted path to a function returning an aware datetime, or None.",
            id="wagtail_oneonone.E017",
        )
    ]


def _positive_integers(*keys: str) -> list[CheckMessage]:
    """Sizes the dispatcher slices work by: a zero or a string would stop it sending."""
    messages: list[CheckMessage] = []
    for key in keys:
        value = getattr(app_settings, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            messages.append(
                Error(
                    f"{SETTING_NAME}[{key!r}] must be a whole number of at least 1, "
                    f"not {value!r}.",
                    hint=f"The default is {DEFAULTS[key]}; see docs/settings.md.",
                    id="wagtail_oneonone.E014",
                )
            )
    return messages


@register()
def check_queue(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse django-q2 settings that would run a task twice or forever."""
    from django.apps import apps
    from django.conf import settings

    if not apps.is_installed("django_q"):
        return [
            Error(
                "django_q is not in INSTALLED_APPS: nothing would send the outbox.",
                hint='Add "django_q" and run `manage.py qcluster`.',
                id="wagtail_oneonone.E010",
            )
        ]
    conf = getattr(settings, "Q_CLUSTER", {}) or {}
    if conf.get("sync"):
        return []
    messages: list[CheckMessage] = []
    timeout, retry = conf.get("timeout"), conf.get("retry", 60)
    if timeout is None or retry is None or retry <= timeout:
        messages.append(
            Error(
                f"Q_CLUSTER's retry ({retry}) must be larger than its timeout ({timeout}): "
                "otherwise the broker hands a running task to a second worker.",
                hint='For example "timeout": 300, "retry": 360.',
                id="wagtail_oneonone.E011",
            )
        )
    if not conf.get("max_attempts"):
        messages.append(
            Error(
                "Q_CLUSTER's max_attempts is unset or 0, which retries a failing task forever.",
                hint='Set "max_attempts": 3 (the outbox retries sends itself).',
                id="wagtail_oneonone.E012",
            )
        )
    if conf.get("catch_up", True):
        messages.append(
            Error(
                "Q_CLUSTER's catch_up is on (the default): after downtime every missed run of "
                "a schedule is replayed.",
                hint='Set "catch_up": False.',
                id="wagtail_oneonone.E013",
            )
        )
    return messages


@register()
def check_sqlite(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """SQLite shared by the site and a worker needs writers to queue, not fail."""
    from django.conf import settings

    messages: list[CheckMessage] = []
    for alias, database in getattr(settings, "DATABASES", {}).items():
        if "sqlite3" not in database.get("ENGINE", ""):
            continue
        options = database.get("OPTIONS", {}) or {}
        if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
            messages.append(
                Warning(
                    f"The SQLite database {alias!r} does not use "
                    '"transaction_mode": "IMMEDIATE": the site and the qcluster worker '
                    'will fail with "database is locked" when they write at once.',
                    hint=f'Set DATABASES["{alias}"]["OPTIONS"] = '
                    '{"transaction_mode": "IMMEDIATE", "timeout": 20}.',
                    id="wagtail_oneonone.W002",
                )
            )
    return messages


@register()
def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from django.conf import settings

    path = "wagtail_oneonone.middleware.VisitorMiddleware"
    middleware = list(getattr(settings, "MIDDLEWARE", []))
    if path not in middleware:
        return [
            Warning(
                f"{path} is not in MIDDLEWARE: anonymous visitors will not be tracked "
                "and identified visitors' earlier events will not be merged.",
                hint="Add it after SessionMiddleware and AuthenticationMiddleware.",
                id="wagtail_oneonone.W001",
            )
        ]
    auth = "django.contrib.auth.middleware.AuthenticationMiddleware"
    if auth in middleware and middleware.index(path) < middleware.index(auth):
        return [
            Error(
                f"{path} must come after {auth} in MIDDLEWARE.",
                id="wagtail_oneonone.E006",
            )
        ]
    return []
