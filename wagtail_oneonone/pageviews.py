"""Recording Wagtail page views from the page-serving hook."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from django.http import HttpRequest

from .conf import app_settings


@lru_cache(maxsize=4)
def _bot_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def is_bot(request: HttpRequest) -> bool:
    agent = request.META.get("HTTP_USER_AGENT", "")
    if not agent:
        return True
    return bool(_bot_pattern(app_settings.BOT_USER_AGENT_PATTERN).search(agent))


def _is_untracked_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_staff and not app_settings.TRACK_STAFF)


def should_record(request: HttpRequest, response: Any) -> bool:
    """Only successful GETs of live pages by people count as views."""
    return (
        app_settings.TRACK_PAGE_VIEWS
        and request.method == "GET"
        and getattr(response, "status_code", None) == 200
        and not getattr(request, "is_preview", False)
        and not is_bot(request)
        and not _is_untracked_staff(request)
    )


def record_page_view(page: Any, request: HttpRequest) -> None:
    from .api import track

    properties = {
        "url": request.get_full_path()[:2000],
        "title": (getattr(page, "title", "") or "")[:500],
        "page_id": page.pk,
        "page_type": page._meta.label_lower,
    }
    referrer = request.META.get("HTTP_REFERER")
    if referrer:
        properties["referrer"] = referrer[:2000]
    track("page_viewed", request=request, properties=properties, fail_silently=True)
