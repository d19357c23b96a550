"""A flow email and the shop's frequency cap: skipped when capped (the default), sent when
its step says the cap does not hold it back; the contact's own choice holds either way."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.flows.conftest import hours, make_flow, send, subscribed, text
from wagtail_oneonone.api import track
from wagtail_oneonone.flows.builtin import BUILTIN_FLOWS
from wagtail_oneonone.flows.services import advance_due
from wagtail_oneonone.flows.triggers import match_new_events
from wagtail_oneonone.models import Contact, MessageKind, OutboxMessage, OutboxStatus
from wagtail_oneonone.sending.dispatch import dispatch_due

pytestmark = pytest.mark.django_db


def thanks(capped: bool) -> dict[str, Any]:
    step = send("thanks", "Thank you", text("<p>Thanks for your order.</p>"))
    step["value"]["frequency_capped"] = capped
    return step


def order_and_run(contact: Contact, at: dt.datetime) -> OutboxMessage:
    """A newsletter went out an hour before the order; the flow thanks them for it."""
    OutboxMessage.objects.create(
        contact=contact,
        source_type="template",
        source_id="1",
        kind=MessageKind.MARKETING,
        idempotency_key=f"newsletter-{contact.pk}",
        status=OutboxStatus.SENT,
        scheduled_at=at - hours(1),
        sent_at=at - hours(1),
    )
    order = {"order_id": "7", "items": [{"product_id": "mug", "quantity": 1}], "total": 40}
    track("order_placed", contact=contact, occurred_at=at, value=40, properties=order)
    match_new_events(now=at)
    advance_due(now=at)
    dispatch_due(clock=lambda: at)
    return OutboxMessage.objects.get(source_type="flow")


@pytest.fixture
def capped_shop(sending_settings: Any, email_layout: Any) -> Any:
    sending_settings.WAGTAIL_ONEONONE = {
        **sending_settings.WAGTAIL_ONEONONE,
        "FREQUENCY_CAP": {"min_gap_hours": 16},
    }
    return sending_settings


@pytest.mark.parametrize("capped", [True, False])
def test_a_flow_email_follows_the_cap_unless_its_step_says_not(
    capped_shop: Any, anymail_backend: Any, capped: bool
) -> None:
    make_flow("Post-purchase", [thanks(capped)], trigger_event_type="order_placed")
    contact = subscribed("buyer@example.com")
    message = order_and_run(contact, timezone.now() - hours(2))
    if capped:
        assert message.status == OutboxStatus.SKIPPED
        assert "frequency cap" in message.skip_reason
        assert anymail_backend.outbox == []
    else:
        assert message.status == OutboxStatus.SENT
        [email] = anymail_backend.outbox
        assert email.subject == "Thank you"


def test_the_contacts_own_frequency_choice_holds_even_then(
    capped_shop: Any, anymail_backend: Any
) -> None:
    make_flow("Post-purchase", [thanks(False)], trigger_event_type="order_placed")
    contact = subscribed("weekly@example.com", email_frequency="weekly")
    message = order_and_run(contact, timezone.now() - hours(2))
    assert message.status == OutboxStatus.SKIPPED
    assert "every 7 days" in message.skip_reason
    assert anymail_backend.outbox == []


def test_the_built_in_flows_send_what_follows_an_action_whatever_the_cap() -> None:
    uncapped = {
        (builtin.key, step["value"]["subject"])
        for builtin in BUILTIN_FLOWS
        for step in builtin.steps()
        if step["type"] == "send_email" and not step["value"]["frequency_capped"]
    }
    assert {key for key, _subject in uncapped} == {
        "post_purchase",
        "birthday",
        "vip_reward",
        "welcome",
    }
    assert len(uncapped) == 4  # the first email of each; the rest follow the cap
