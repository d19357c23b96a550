"""Normalising and validating the values contacts are made of."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from .exceptions import ContactValidationError

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64


def normalize_email(value: object, field: str = "email") -> str:
    """Return the canonical form of an address (trimmed, NFC, lower case) or raise."""
    if not isinstance(value, str):
        raise ContactValidationError(field, f"expected a string, got {type(value).__name__}")
    email = unicodedata.normalize("NFC", value.strip()).lower()
    if not email:
        raise ContactValidationError(field, "is required")
    if len(email) > MAX_EMAIL_LENGTH:
        raise ContactValidationError(field, f"is longer than {MAX_EMAIL_LENGTH} characters")
    local, _, _domain = email.rpartition("@")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise ContactValidationError(
            field, f"local part is longer than {MAX_LOCAL_PART_LENGTH} characters"
        )
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ContactValidationError(field, f"{value!r} is not a valid email address") from None
    return email


def email_hash(email: str) -> str:
    """A stable SHA-256 of the normalised address: what suppression keeps after erasure."""
    return hashlib.sha256(b"wagtail_oneonone:" + normalize_email(email).encode()).hexdigest()


# A JSON text's escaped NUL (\u0000), not preceded by an escaped backslash.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def has_json_nul(serialised: str) -> bool:
    """Whether JSON text holds a NUL character, which PostgreSQL cannot store."""
    return "\\u0000" in serialised and bool(_JSON_NUL.search(serialised))


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_time_zone(value: object, field: str = "time_zone") -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or value not in _time_zones():
        raise ContactValidationError(
            field, f"{value!r} is not an IANA time zone name (for example 'Europe/London')"
        )
    return value
