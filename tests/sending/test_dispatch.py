"""From outbox to backend: decisions at send time, headers, failures and their outcomes."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest
from django.core.mail.backends import locmem
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from wagtail_oneonone.contacts.services import set_consent
from wagtail_oneonone.models import EmailTemplate, MessageKind, OutboxMessage, OutboxStatus
from wagtail_oneonone.sending import outbox
from wagtail_oneonone.sending.dispatch import dispatch_due

from .conftest import subscribed

pytestmark = pytest.mark.django_db


def queue(contact: Any, template: EmailTemplate, **kwargs: Any) -> OutboxMessage:
    kwargs.setdefault("kind", template.kind)
    message, _ = outbox.queue_message(
        contact, source_type="template", source_id=template.pk, **kwargs
    )
    return message


def test_a_message_is_sent_once_with_every_header(
    sending_settings: Any, anymail_backend: Any, template: EmailTemplate
) -> None:
    ann = subscribed("ann@example.com", first_name="Ann")
    message = queue(ann, template)
    result = dispatch_due()
    assert (result.sent, result.failed) == (1, 0)
    assert dispatch_due().claimed == 0  # nothing twice
    [email] = anymail_backend.outbox
    assert email.subject == "Hi Ann"
    assert email.to == ["Ann <ann@example.com>"]
    assert email.reply_to == ["Jo Maker <jo@shop.example>"]
    assert email.metadata == {"outbox_id": str(message.pk), "contact_id": str(ann.pk)}
    assert email.tags == ["oneonone-template"]
    headers = email.extra_headers
    assert headers["List-Unsubscribe"].startswith("<https://shop.example/")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Id"].endswith("<oneonone.shop.example>")
    assert headers["Message-ID"].endswith("@shop.example>")
    html = email.alternatives[0][0]
    assert "Something for you" in html.split("Hello")[0]  # the preheader comes first
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT
    assert message.esp_message_id  # the anymail test backend's id
    assert message.subject == "Hi Ann" and message.attempts == 1
    assert message.content.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Hello Ann" in message.content.html


def test_an_opt_out_just_before_sending_wins(
    sending_settings: Any, anymail_backend: Any, template: EmailTemplate
) -> None:
    bea = subscribed("bea@example.com")
    message = queue(bea, template)
    set_consent(bea, "unsubscribed", source="link")
    assert dispatch_due().skipped == 1
    assert anymail_backend.outbox == []
    message.refresh_from_db()
    assert message.status == OutboxStatus.SKIPPED
    assert "consent" in message.skip_reason


def test_a_broken_template_fails_its_message_and_the_batch_goes_on(
    sending_settings: Any, anymail_backend: Any, template: EmailTemplate
) -> None:
    broken = EmailTemplate.objects.create(
        name="Broken", subject="Hi", html_body="<p>{% for x in range(10**9) %}{{ x }}{% endfor %}"
    )
    first = queue(subscribed("cal@example.com"), broken)
    second = queue(subscribed("dee@example.com"), template)
    result = dispatch_due()
    assert (result.sent, result.failed) == (1, 1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == OutboxStatus.FAILED
    assert first.last_error.startswith("template error in the html")
    assert second.status == OutboxStatus.SENT
    assert [email.to for email in anymail_backend.outbox] == [["dee@example.com"]]


def test_marketing_email_always_shows_an_unsubscribe_link(
    sending_settings: Any, anymail_backend: Any
) -> None:
    bare = EmailTemplate.objects.create(name="Bare", subject="News", html_body="<p>News</p>")
    queue(subscribed("eli@example.com"), bare)
    dispatch_due()
    [email] = anymail_backend.outbox
    url = email.extra_headers["List-Unsubscribe"].split("<", 1)[1].split(">", 1)[0]
    assert url in email.alternatives[0][0]
    assert f"Unsubscribe: {url}" in email.body


def test_receipts_go_without_consent_or_list_headers(
    sending_settings: Any, anymail_backend: Any
) -> None:
    from wagtail_oneonone.models import Contact

    receipt = EmailTemplate.objects.create(
        name="Receipt",
        kind=MessageKind.TRANSACTIONAL,
        subject="Your order",
        html_body="<p>Thanks</p>",
    )
    queue(Contact.objects.create(email="fay@example.com"), receipt)
    assert dispatch_due().sent == 1
    [email] = anymail_backend.outbox
    assert "List-Unsubscribe" not in email.extra_headers


def test_a_deleted_source_skips(
    sending_settings: Any, anymail_backend: Any, template: EmailTemplate
) -> None:
    message = queue(subscribed("gil@example.com"), template)
    template.delete()
    assert dispatch_due().skipped == 1
    message.refresh_from_db()
    assert "deleted" in message.skip_reason


def test_quiet_hours_defer_rather_than_drop(
    sending_settings: Any, anymail_backend: Any, template: EmailTemplate
) -> None:
    import datetime as dt

    sending_settings.WAGTAIL_ONEONONE = {
        **sending_settings.WAGTAIL_ONEONONE,
        "QUIET_HOURS": {"start": 21, "end": 8},
    }
    night = dt.datetime(2026, 6, 10, 23, 30, tzinfo=dt.UTC)  # 00:30 in London
    message = queue(
        subscribed("hal@example.com", time_zone="Europe/London"), template, scheduled_at=night
    )
    assert dispatch_due(clock=lambda: night).deferred == 1
    message.refresh_from_db()
    assert message.status == OutboxStatus.QUEUED
    assert message.scheduled_at == dt.datetime(2026, 6, 11, 7, 0, tzinfo=dt.UTC)
    morning = message.scheduled_at
    assert dispatch_due(clock=lambda: morning).sent == 1


def test_a_rolled_back_transaction_queues_nothing(
    sending_settings: Any,
    anymail_backend: Any,
    template: EmailTemplate,
    django_capture_on_commit_callbacks: Any,
) -> None:
    ivy = subscribed("ivy@example.com")
    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                queue(ivy, template)
                raise RuntimeError("the order failed")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not OutboxMessage.objects.exists()


def test_queueing_wakes_the_dispatcher_on_commit(
    sending_settings: Any,
    anymail_backend: Any,
    template: EmailTemplate,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from wagtail_oneonone import tasks

    tasks._last_wake = 0.0
    with django_capture_on_commit_callbacks(execute=True):
        queue(subscribed("jay@example.com"), template)
    # Q_CLUSTER is in sync mode for tests: the wake-up ran the dispatcher already.
    assert [email.to for email in anymail_backend.outbox] == [["jay@example.com"]]


def test_a_test_send_goes_to_the_tester_rendered_as_the_contact(
    sending_settings: Any, anymail_backend: Any, template: EmailTemplate, client: Any
) -> None:
    from wagtail_oneonone.contacts.services import suppress
    from wagtail_oneonone.models import Contact
    from wagtail_oneonone.sending.test_sends import send_test

    # Even an unsubscribed, suppressed contact can be previewed this way.
    pia = Contact.objects.create(email="pia@example.com", first_name="Pia")
    suppress(pia.email, "complaint")
    message = send_test(template, as_contact=pia, to_email="Staff@Shop.example")
    assert dispatch_due().sent == 1
    [email] = anymail_backend.outbox
    assert email.to == ["staff@shop.example"]
    assert email.subject == "[Test] Hi Pia"
    assert "List-Unsubscribe" not in email.extra_headers
    assert email.extra_headers["X-OneOnOne-Test"] == f"rendered for contact {pia.pk}"
    # The unsubscribe link in a test does nothing to the contact.
    html = email.alternatives[0][0]
    link = html.split('href="', 2)[1].split('"', 1)[0]
    assert "test-send" in link
    path = link.removeprefix("https://shop.example")
    assert client.post(path).status_code == 400
    pia.refresh_from_db()
    assert pia.consent_status == "none"
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT


@pytest.mark.parametrize("kind", ["marketing", "transactional"])
def test_a_test_send_shows_the_unsubscribe_footer_the_email_will_have(
    sending_settings: Any, anymail_backend: Any, kind: str
) -> None:
    from wagtail_oneonone.models import Contact
    from wagtail_oneonone.sending.test_sends import send_test

    forgetful = EmailTemplate.objects.create(
        name="No footer", subject="Hi", html_body="<p>Nothing to leave by.</p>", kind=kind
    )
    pia = Contact.objects.create(email="pia@example.com", first_name="Pia")
    send_test(forgetful, as_contact=pia, to_email="staff@shop.example")
    assert dispatch_due().sent == 1
    [email] = anymail_backend.outbox
    html = email.alternatives[0][0]
    assert ("test-send" in html) == (kind == "marketing")  # the added link does nothing
    assert "List-Unsubscribe" not in email.extra_headers


def test_the_demo_backend_keeps_what_was_sent_for_the_admin(
    sending_settings: Any, template: EmailTemplate
) -> None:
    sending_settings.EMAIL_BACKEND = "wagtail_oneonone.backends.CaptureEmailBackend"
    message = queue(subscribed("ola@example.com", first_name="Ola"), template)
    assert dispatch_due().sent == 1
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT
    assert "Hello Ola" in message.content.html


@pytest.mark.parametrize("group_size", [1, 25])
def test_two_messages_to_one_contact_in_one_batch_keep_the_minimum_gap(
    sending_settings: Any, anymail_backend: Any, template: EmailTemplate, group_size: int
) -> None:
    sending_settings.WAGTAIL_ONEONONE = {
        **sending_settings.WAGTAIL_ONEONONE,
        "FREQUENCY_CAP": {"max_messages": 5, "window_hours": 24, "min_gap_hours": 16},
        "HANDOFF_GROUP_SIZE": group_size,
    }
    other = EmailTemplate.objects.create(name="Other", subject="More", html_body="<p>More</p>")
    kim = subscribed("kim@example.com")
    first, second = queue(kim, template), queue(kim, other)
    result = dispatch_due()
    assert (result.claimed, result.sent, result.skipped) == (2, 1, 1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == OutboxStatus.SENT
    assert second.status == OutboxStatus.SKIPPED
    assert "within 16 hours" in second.skip_reason
    assert [email.to for email in anymail_backend.outbox] == [["kim@example.com"]]


def test_a_message_that_fails_to_render_does_not_count_against_the_cap(
    sending_settings: Any, anymail_backend: Any, template: EmailTemplate
) -> None:
    sending_settings.WAGTAIL_ONEONONE = {
        **sending_settings.WAGTAIL_ONEONONE,
        "FREQUENCY_CAP": {"max_messages": 1, "window_hours": 24, "min_gap_hours": 0},
    }
    broken = EmailTemplate.objects.create(name="Broken", subject="{{ 1/0 }}", html_body="<p>x</p>")
    lea = subscribed("lea@example.com")
    queue(lea, broken)  # first in the batch, and fails to render
    sent = queue(lea, template)
    result = dispatch_due()
    assert (result.sent, result.failed, result.skipped) == (1, 1, 0)
    sent.refresh_from_db()
    assert sent.status == OutboxStatus.SENT


def test_a_batch_costs_a_few_statements_a_group_not_a_message(
    sending_settings: Any,
    anymail_backend: Any,
    template: EmailTemplate,
    django_assert_num_queries: Any,
) -> None:
    from wagtail_oneonone.sending.outbox import QueuedMessage, queue_messages

    sending_settings.WAGTAIL_ONEONONE = {
        **sending_settings.WAGTAIL_ONEONONE,
        "SEND_BATCH_SIZE": 60,
        "HANDOFF_GROUP_SIZE": 30,
    }
    people = [subscribed(f"p{number}@example.com") for number in range(60)]
    queue_messages(
        QueuedMessage(person.pk, "template", str(template.pk), template.kind) for person in people
    )
    # Sweep (2), kill switch, claim (3 and a savepoint's 2 here), the batch, its source and
    # its contacts' events; then for each group of 30: consent and recent email, the
    # hand-off (1 and a savepoint's 2) and the outcomes (2); then the claim that finds no
    # more (1 and a savepoint's 2). Nothing is paid per message.
    with django_assert_num_queries(11 + 2 * 7 + 3):
        result = dispatch_due()
    assert (result.claimed, result.sent) == (60, 60)
    assert len(anymail_backend.outbox) == 60


class TakeoverBackend(locmem.EmailBackend):
    """While it connects, another worker takes over a claim (its lease ran out)."""

    def __init__(self, taken: OutboxMessage, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.taken = taken

    def open(self) -> bool:
        OutboxMessage.objects.filter(pk=self.taken.pk).update(claimed_by="w2:other")
        return True


def test_a_lost_claim_records_nothing_and_the_rest_of_its_group_goes(
    sending_settings: Any, template: EmailTemplate
) -> None:
    from django.core import mail

    mail.outbox = []
    messages = [queue(subscribed(f"q{number}@example.com"), template) for number in range(3)]
    result = dispatch_due(connection=TakeoverBackend(messages[1]))
    assert (result.sent, result.lost_claims) == (2, 1)
    assert [email.to for email in mail.outbox] == [["q0@example.com"], ["q2@example.com"]]
    taken = OutboxMessage.objects.get(pk=messages[1].pk)
    assert (taken.status, taken.claimed_by, taken.attempts) == ("claimed", "w2:other", 0)
    assert taken.handed_off_at is None and not hasattr(taken, "content")


class OutageBackend(BaseEmailBackend):
    """Accepts ``accept`` messages, then drops the connection and refuses new ones."""

    def __init__(self, accept: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.accept, self.down = accept, False
        self.delivered: list[str] = []

    def open(self) -> bool:
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        return True

    def send_messages(self, email_messages: Any) -> int:
        if len(self.delivered) >= self.accept:
            self.down = True
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        self.delivered.extend(message.to[0] for message in email_messages)
        return len(email_messages)


def test_a_backend_lost_mid_group_retries_the_rest_without_using_attempts(
    sending_settings: Any, template: EmailTemplate
) -> None:
    import datetime as dt

    sending_settings.WAGTAIL_ONEONONE = {
        **sending_settings.WAGTAIL_ONEONONE,
        "HANDOFF_GROUP_SIZE": 10,
        "RETRY_BACKOFF_SECONDS": 60,
    }
    sending_settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    messages = [queue(subscribed(f"r{number}@example.com"), template) for number in range(5)]
    backend = OutageBackend(accept=2)
    result = dispatch_due(connection=backend)
    assert (result.sent, result.retried) == (2, 3)
    assert backend.delivered == ["r0@example.com", "r1@example.com"]
    for message in messages:
        message.refresh_from_db()
    assert [message.status for message in messages] == ["sent"] * 2 + ["queued"] * 3
    assert messages[2].attempts == 1  # it reached the backend, which hung up
    assert [message.attempts for message in messages[3:]] == [0, 0]  # they never did
    assert all(message.handed_off_at is None for message in messages[2:])
    later = max(message.scheduled_at for message in messages) + dt.timedelta(seconds=1)
    again = OutageBackend(accept=10)
    assert dispatch_due(clock=lambda: later, connection=again).sent == 3
    assert again.delivered == ["r2@example.com", "r3@example.com", "r4@example.com"]
