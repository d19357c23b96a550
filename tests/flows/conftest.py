"""Flows for the tests: real step blocks, real events, the outbox and anymail's test backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from tests.campaigns.conftest import email_layout  # noqa: F401  (fixture)
from tests.sending.conftest import (  # noqa: F401  (fixtures)
    anymail_backend,
    sending_settings,
    subscribed,
)
from wagtail_oneonone.api import track
from wagtail_oneonone.flows.blocks import FlowStepsBlock
from wagtail_oneonone.flows.services import advance_due
from wagtail_oneonone.flows.triggers import match_new_events
from wagtail_oneonone.models import Flow, FlowStatus, Reentry, TriggerType
from wagtail_oneonone.sending.dispatch import dispatch_due


def wait(step_id: str, hours: float = 0, **extra: Any) -> dict[str, Any]:
    minutes = round(hours * 60)
    return {
        "type": "wait",
        "id": step_id,
        "value": {"amount": minutes, "unit": "minutes", **extra},
    }


def send(step_id: str, subject: str, *body: tuple[str, Any]) -> dict[str, Any]:
    blocks = [{"type": kind, "value": value} for kind, value in body]
    return {
        "type": "send_email",
        "id": step_id,
        "value": {"subject": subject, "preheader": "", "body": blocks},
    }


def text(html: str) -> tuple[str, str]:
    return ("rich_text", html)


def raw(source: str) -> tuple[str, str]:
    return ("raw", source)


def step(kind: str, step_id: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "id": step_id, "value": value}


def make_flow(name: str, steps: list[dict[str, Any]], **fields: Any) -> Flow:
    values: dict[str, Any] = {
        "status": FlowStatus.ACTIVE,
        # Turned on long ago: the tests' events (in the past, by an injected clock) count.
        "activated_at": timezone.now() - dt.timedelta(days=365),
        "trigger_type": TriggerType.EVENT,
        "reentry": Reentry.EVERY_TIME,
        "reply_to": "Jo Maker <jo@shop.example>",
    }
    values.update(fields)
    return Flow.objects.create(name=name, steps=FlowStepsBlock().to_python(steps), **values)


CART_ITEMS = "{% for item in last_cart %}<p>{{ item.name }} x {{ item.quantity }}</p>{% endfor %}"


def cart_flow() -> Flow:
    """Cart abandonment: a reminder after 2 hours, an incentive after 24; ends on order."""
    return make_flow(
        "Cart abandonment",
        [
            wait("w2h", 2),
            send(
                "reminder",
                "{{ contact.first_name|default('Hi', true) }}, your basket is waiting",
                text("<p>You left these behind:</p>"),
                raw(CART_ITEMS),
            ),
            wait("w24h", 22),
            send("incentive", "10% off your basket", text("<p>Here is 10% off.</p>")),
        ],
        trigger_event_type="cart_updated",
        goal_event_type="order_placed",
    )


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


def run(at: dt.datetime) -> None:
    """What the every-minute schedule does, at ``at``: enroll, advance, send."""
    match_new_events(now=at)
    advance_due(now=at)
    dispatch_due(clock=lambda: at)


def abandon_cart(email: str, at: dt.datetime, items: list[dict[str, Any]]) -> None:
    track("cart_updated", email=email, occurred_at=at, properties={"items": items})
