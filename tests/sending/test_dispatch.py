"""From outbox to backend: decisions at send time, headers, failures and their outcomes."""

from __future__ import annotations

from typing import Any

import pytest
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


def test_the_demo_backend_keeps_what_was_sent_for_the_admin(
    sending_settings: Any, template: EmailTemplate
) -> None:
    sending_settings.EMAIL_BACKEND = "wagtail_oneonone.backends.CaptureEmailBackend"
    message = queue(subscribed("ola@example.com", first_name="Ola"), template)
    assert dispatch_due().sent == 1
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT
    assert "Hello Ola" in message.content.html
