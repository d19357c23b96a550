"""Signed link tokens: round trip, and everything that must not verify."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from wagtail_oneonone.exceptions import OneOnOneError
from wagtail_oneonone.tracking.tokens import BadToken, LinkToken, make_token, read_token


def test_round_trip_with_and_without_message() -> None:
    assert read_token(make_token(42, "unsubscribe", 1234), "unsubscribe") == LinkToken(
        contact_id=42, message_id=1234, purpose="unsubscribe"
    )
    assert read_token(make_token(7, "preferences"), "preferences") == LinkToken(
        contact_id=7, message_id=None, purpose="preferences"
    )


def test_token_is_compact_url_safe_and_holds_only_ids() -> None:
    token = make_token(42, "unsubscribe", 1234)
    assert re.fullmatch(r"42\.1234\.[A-Za-z0-9_-]{43}", token)
    assert re.fullmatch(r"42\.[A-Za-z0-9_-]{43}", make_token(42, "unsubscribe"))
    # Deterministic: the same link in a resent email is the same URL.
    assert make_token(42, "unsubscribe", 1234) == token


def _other(char: str) -> str:
    return next(c for c in "A9b" if c != char)


@pytest.mark.parametrize("position", [0, 3, -1, -20])
def test_a_changed_character_is_refused(position: int) -> None:
    token = make_token(42, "unsubscribe", 1234)
    chars = list(token)
    chars[position] = _other(chars[position])
    forged = "".join(chars)
    assert forged != token
    with pytest.raises(BadToken):
        read_token(forged, "unsubscribe")


@pytest.mark.parametrize("cut", [1, 10, 43, 44])
def test_truncated_token_is_refused(cut: int) -> None:
    token = make_token(42, "unsubscribe", 1234)
    with pytest.raises(BadToken):
        read_token(token[:-cut], "unsubscribe")


def test_a_token_of_one_purpose_does_not_work_for_the_other() -> None:
    with pytest.raises(BadToken):
        read_token(make_token(42, "preferences"), "unsubscribe")
    with pytest.raises(BadToken):
        read_token(make_token(42, "unsubscribe"), "preferences")


def test_another_contacts_id_spliced_in_is_refused() -> None:
    mine = make_token(42, "unsubscribe", 1234)
    signature = mine.rsplit(".", 1)[1]
    for payload in ("43.1234", "42.1235", "42", "4.21234"):
        with pytest.raises(BadToken):
            read_token(f"{payload}.{signature}", "unsubscribe")
    # Nor does moving one contact's signature onto another's ids.
    theirs = make_token(43, "unsubscribe", 1234)
    with pytest.raises(BadToken):
        read_token(theirs.rsplit(".", 1)[0] + "." + signature, "unsubscribe")


@pytest.mark.parametrize(
    "junk",
    ["", ".", "42", "42.", "not a token", "0.abc", "x" * 5000, "42:1234:abc", "\x00"],
)
def test_malformed_tokens_are_refused(junk: str) -> None:
    with pytest.raises(BadToken):
        read_token(junk, "unsubscribe")


def test_non_string_is_refused() -> None:
    with pytest.raises(BadToken):
        read_token(None, "unsubscribe")  # type: ignore[arg-type]


def test_bad_token_is_a_oneonone_error() -> None:
    assert issubclass(BadToken, OneOnOneError)


def test_only_known_purposes_and_positive_ids() -> None:
    with pytest.raises(ValueError, match="purpose"):
        make_token(1, "login")
    with pytest.raises(ValueError, match="purpose"):
        read_token(make_token(1, "unsubscribe"), "login")
    for bad in (0, -1, True, "1"):
        with pytest.raises(ValueError):
            make_token(bad, "unsubscribe")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        make_token(1, "unsubscribe", 0)


def test_another_secret_key_does_not_verify_but_a_fallback_does() -> None:
    token = make_token(42, "unsubscribe", 1234)
    with override_settings(SECRET_KEY="another-key"), pytest.raises(BadToken):
        read_token(token, "unsubscribe")
    # After rotating SECRET_KEY, links in email already sent keep working through
    # SECRET_KEY_FALLBACKS.
    with override_settings(
        SECRET_KEY="another-key", SECRET_KEY_FALLBACKS=["tests-only-not-secret"]
    ):
        assert read_token(token, "unsubscribe").contact_id == 42
