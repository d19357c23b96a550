"""Classifying backend failures, pacing to a rate, and the kill switch."""

from __future__ import annotations

import datetime as dt
import smtplib

import pytest
from anymail.exceptions import (
    AnymailAPIError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from anymail.message import AnymailRecipientStatus, AnymailStatus
from django.test import override_settings

from wagtail_oneonone.contacts.services import suppress
from wagtail_oneonone.models import Contact, MessageKind, OutboxMessage, OutboxStatus
from wagtail_oneonone.sending.failures import classify_failure
from wagtail_oneonone.sending.throttle import Pacer, kill_switch_reason


class Email:
    def __init__(self, status: str | None) -> None:
        self.anymail_status = AnymailStatus()
        if status:
            self.anymail_status.set_recipient_status(
                {"a@example.com": AnymailRecipientStatus(message_id=None, status=status)}
            )


def api_error(status: int) -> AnymailAPIError:
    import requests

    response = requests.Response()
    response.status_code, response.reason, response._content = status, "Error", b"{}"
    return AnymailAPIError("boom", status_code=status, response=response)


@pytest.mark.parametrize(
    ("exc", "email", "permanent", "suppress"),
    [
        (AnymailRecipientsRefused(), Email("invalid"), True, "hard_bounce"),
        (AnymailRecipientsRefused(), Email("rejected"), True, "hard_bounce"),
        (AnymailInvalidAddress("bad"), None, True, None),
        (api_error(400), None, True, None),
        (api_error(429), None, False, None),
        (api_error(503), None, False, None),
        (AnymailAPIError("no status"), None, False, None),
        (
            smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user")}),
            None,
            True,
            "hard_bounce",
        ),
        (
            smtplib.SMTPRecipientsRefused({"a@example.com": (452, b"mailbox full")}),
            None,
            False,
            None,
        ),
        (smtplib.SMTPDataError(554, b"spam"), None, True, None),
        (smtplib.SMTPDataError(451, b"try later"), None, False, None),
        (smtplib.SMTPServerDisconnected("gone"), None, False, None),
        (smtplib.SMTPAuthenticationError(535, b"auth"), None, False, None),
        (ConnectionRefusedError(111, "refused"), None, False, None),
        (TimeoutError("slow"), None, False, None),
    ],
)
def test_failures_are_classified(
    exc: BaseException, email: object, permanent: bool, suppress: str | None
) -> None:
    failure = classify_failure(exc, email)
    assert (failure.permanent, failure.suppress) == (permanent, suppress)
    assert failure.message


def test_pacer_spaces_sends_and_cuts_batches() -> None:
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = Pacer(4, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        pacer.wait()
    assert slept == [0.25, 0.25, 0.25, 0.25]
    assert pacer.batch_size(50, seconds=2) == 8
    assert Pacer(None).batch_size(50, seconds=2) == 50


@pytest.mark.django_db
@override_settings(
    WAGTAIL_ONEONONE={
        "KILL_SWITCH": {
            "window_hours": 24,
            "min_sent": 10,
            "bounce_rate": 0.1,
            "complaint_rate": 0.01,
        }
    }
)
def test_kill_switch_trips_on_bounces_and_complaints() -> None:
    now = dt.datetime.now(dt.UTC)
    for i in range(20):
        contact = Contact.objects.create(email=f"k{i}@example.com")
        OutboxMessage.objects.create(
            contact=contact,
            source_type="t",
            source_id="1",
            idempotency_key=f"k{i}",
            kind=MessageKind.MARKETING,
            scheduled_at=now,
            status=OutboxStatus.SENT,
            sent_at=now,
        )
    assert kill_switch_reason(now) is None
    for i in range(3):
        suppress(f"k{i}@example.com", "hard_bounce")
    reason = kill_switch_reason(now)
    assert reason and "3 hard bounces for 20 sent" in reason


@pytest.mark.django_db
@override_settings(WAGTAIL_ONEONONE={"KILL_SWITCH": None})
def test_kill_switch_can_be_switched_off() -> None:
    assert kill_switch_reason(dt.datetime.now(dt.UTC)) is None
