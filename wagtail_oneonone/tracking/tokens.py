"""Signed, unguessable tokens for the links in email.

A token is ``<contact id>[.<message id>].<signature>``: the ids in decimal and an
HMAC-SHA256 of them keyed with ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` still verify)
and salted per purpose, so an unsubscribe token opens nothing else. It holds no email
address, and it does not expire: RFC 8058 expects the unsubscribe link in an old
email to keep working, and the preference centre link sits next to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core import signing

from ..exceptions import OneOnOneError

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
PURPOSES = frozenset({UNSUBSCRIBE, PREFERENCES})

_SEP = "."
_PAYLOAD = re.compile(r"([1-9][0-9]{0,18})(?:\.([1-9][0-9]{0,18}))?")
# Two 19-digit ids, two separators and a 43-character signature fit well within this.
_MAX_TOKEN_LENGTH = 100


class BadToken(OneOnOneError):
    """A link token that is forged, truncated, malformed or meant for another purpose."""


@dataclass(frozen=True)
class LinkToken:
    contact_id: int
    message_id: int | None
    purpose: str


def _signer(purpose: str) -> signing.Signer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}; use one of {sorted(PURPOSES)}")
    return signing.Signer(sep=_SEP, salt=f"wagtail_oneonone.{purpose}", algorithm="sha256")


def _check_id(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


def make_token(contact_id: int, purpose: str, message_id: int | None = None) -> str:
    """A URL-safe token naming the contact (and the message the link was sent in)."""
    payload = str(_check_id("contact_id", contact_id))
    if message_id is not None:
        payload += _SEP + str(_check_id("message_id", message_id))
    return _signer(purpose).sign(payload)


def read_token(token: str, purpose: str) -> LinkToken:
    """Verify a token made by :func:`make_token` for ``purpose``; raises :class:`BadToken`."""
    signer = _signer(purpose)
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise BadToken("not a link token")
    try:
        payload = signer.unsign(token)
    except signing.BadSignature:
        raise BadToken("the link's signature does not match") from None
    match = _PAYLOAD.fullmatch(payload)
    if match is None:  # signed by us, so only a change of format gets here
        raise BadToken("the link's contents are not understood")
    message = match.group(2)
    return LinkToken(
        contact_id=int(match.group(1)),
        message_id=int(message) if message else None,
        purpose=purpose,
    )
