"""What a failed hand-off to the email backend means: retry, give up, or suppress."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from typing import Any

from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)

from ..models.contacts import SuppressionReason

# HTTP answers worth retrying: timeouts, rate limits and server errors.
_TRANSIENT_HTTP = {408, 425, 429}


@dataclass(frozen=True)
class Failure:
    permanent: bool
    message: str
    suppress: str | None = None  # a SuppressionReason to record for the recipient


def _anymail_refusal(exc: AnymailRecipientsRefused, email: Any) -> Failure:
    statuses = getattr(getattr(email, "anymail_status", None), "recipients", {}) or {}
    suppress = None
    for status in statuses.values():
        # "invalid": the address cannot exist; "rejected": the provider refuses it (its own
        # suppression list of bounces and complaints). Soft bounces never arrive here.
        if getattr(status, "status", None) in ("invalid", "rejected"):
            suppress = SuppressionReason.HARD_BOUNCE
    return Failure(True, f"the provider refused the recipient: {exc}", suppress)


def _smtp_code_failure(code: int, text: str, *, recipient: bool) -> Failure:
    if 400 <= code < 500:
        return Failure(False, f"temporary SMTP failure {code}: {text}")
    suppress = SuppressionReason.HARD_BOUNCE if recipient and code in (550, 551, 553) else None
    return Failure(True, f"SMTP refused with {code}: {text}", suppress)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def classify_failure(exc: BaseException, email: Any = None) -> Failure:
    """Classify an exception raised by ``send_messages`` for one message."""
    if isinstance(exc, AnymailRecipientsRefused):
        return _anymail_refusal(exc, email)
    if isinstance(exc, AnymailInvalidAddress):
        return Failure(True, f"invalid address: {exc}")
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        if status is not None and 400 <= status < 500 and status not in _TRANSIENT_HTTP:
            return Failure(True, f"the provider rejected the message (HTTP {status}): {exc}")
        return Failure(False, f"provider error: {exc}")
    if isinstance(exc, AnymailError):
        return Failure(False, f"provider error: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        failures = [
            _smtp_code_failure(code, _text(text), recipient=True)
            for code, text in exc.recipients.values()
        ]
        permanent = [failure for failure in failures if failure.permanent]
        return permanent[0] if permanent else failures[0]
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(
        exc, smtplib.SMTPAuthenticationError
    ):
        return _smtp_code_failure(exc.smtp_code, _text(exc.smtp_error), recipient=False)
    # Disconnects, refused connections, timeouts, authentication and anything unexpected:
    # the message never got through, so it is retried (up to MAX_SEND_ATTEMPTS).
    return Failure(False, f"{type(exc).__name__}: {exc}")
