"""The first-party visitor cookie and the signed cookie naming an identified contact."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest

from .conf import app_settings

_SALT = "wagtail_oneonone.contact"


def _valid_uuid(value: str | None) -> str | None:
    if not value or len(value) != 36:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def get_visitor_id(request: HttpRequest, *, create: bool = False) -> str | None:
    """The browser's visitor id from its cookie; with ``create``, a new one to be set."""
    visitor_id = getattr(request, "oneonone_visitor_id", None)
    if visitor_id is None and not hasattr(request, "oneonone_visitor_id"):
        visitor_id = _valid_uuid(request.COOKIES.get(app_settings.VISITOR_COOKIE_NAME))
        request.oneonone_visitor_id = visitor_id  # type: ignore[attr-defined]
    if visitor_id is None and create:
        visitor_id = str(uuid.uuid4())
        request.oneonone_visitor_id = visitor_id  # type: ignore[attr-defined]
        request._oneonone_set_visitor = True  # type: ignore[attr-defined]
    return visitor_id


def get_identified_contact_id(request: HttpRequest) -> int | None:
    """The contact id this browser was identified as (signed cookie), if any."""
    if getattr(request, "_oneonone_forget_contact", False):
        return None
    pending = getattr(request, "_oneonone_set_contact", None)
    if pending is not None:
        return int(pending)
    raw = request.get_signed_cookie(
        app_settings.CONTACT_COOKIE_NAME,
        default=None,
        salt=_SALT,
        max_age=app_settings.VISITOR_COOKIE_AGE,
    )
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def remember_contact(request: HttpRequest, contact_id: int) -> None:
    """Ask the middleware to set the contact cookie on this request's response."""
    request._oneonone_set_contact = contact_id  # type: ignore[attr-defined]
    request._oneonone_forget_contact = False  # type: ignore[attr-defined]


def forget_contact(request: HttpRequest) -> None:
    request._oneonone_set_contact = None  # type: ignore[attr-defined]
    request._oneonone_forget_contact = True  # type: ignore[attr-defined]


def apply_cookies(request: HttpRequest, response: Any) -> None:
    age = app_settings.VISITOR_COOKIE_AGE
    secure = app_settings.VISITOR_COOKIE_SECURE
    if getattr(request, "_oneonone_set_visitor", False):
        response.set_cookie(
            app_settings.VISITOR_COOKIE_NAME,
            request.oneonone_visitor_id,  # type: ignore[attr-defined]
            max_age=age,
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
    if getattr(request, "_oneonone_forget_contact", False):
        response.delete_cookie(app_settings.CONTACT_COOKIE_NAME, samesite="Lax")
    contact_id = getattr(request, "_oneonone_set_contact", None)
    if contact_id is not None:
        response.set_signed_cookie(
            app_settings.CONTACT_COOKIE_NAME,
            str(contact_id),
            salt=_SALT,
            max_age=age,
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
