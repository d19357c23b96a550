"""The built-in flows: the sequences every shop needs, installed in one click, then edited.

Each is made as a draft (status ``draft``), so the shop reads and adjusts it before
turning it on. Their emails are written with the same blocks as campaigns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.db import transaction

from ..conf import app_settings
from ..models import Flow, FlowStatus, Reentry, Segment, TriggerType
from .blocks import FlowStepsBlock

CART_ITEMS = (
    '<table role="presentation" width="100%">{% for item in last_cart %}<tr>'
    '<td style="padding:4px 0">{% if item.url %}<a href="{{ item.url }}">{{ item.name or '
    "item.product_id }}</a>{% else %}{{ item.name or item.product_id }}{% endif %}</td>"
    '<td style="padding:4px 0;text-align:right">&times; {{ item.quantity|default(1) }}</td>'
    "</tr>{% endfor %}</table>"
)
#: Where a built-in flow's note to a colleague goes, filled in on install.
STAFF = "staff"

VIP_SEGMENT = {
    "slug": "vip-spent-500",
    "name": "VIP: spent 500 or more",
    "rules": {
        "condition": "money",
        "metric": "total_spend",
        "operator": "gte",
        "value": 500,
        "window": {"type": "ever"},
    },
}


@dataclass(frozen=True)
class BuiltinFlow:
    key: str
    name: str
    description: str
    fields: Callable[[], dict[str, Any]]
    steps: Callable[[], list[dict[str, Any]]]


def _wait(amount: int, unit: str = "hours", until: str | None = None) -> dict[str, Any]:
    return {"type": "wait", "value": {"amount": amount, "unit": unit, "until": until}}


def _email(
    subject: str, *body: tuple[str, Any], preheader: str = "", capped: bool = True
) -> dict[str, Any]:
    """An email step; ``capped`` False for one the contact expects straight after what
    they did, which the frequency cap should not hold back."""
    return {
        "type": "send_email",
        "value": {
            "subject": subject,
            "preheader": preheader,
            "body": [{"type": kind, "value": value} for kind, value in body],
            "frequency_capped": capped,
        },
    }


def _text(html: str) -> tuple[str, str]:
    return ("rich_text", html)


def _heading(text: str) -> tuple[str, dict[str, str]]:
    return ("heading", {"text": text, "level": "h1", "align": "left"})


def _recent(count: int = 3) -> tuple[str, dict[str, Any]]:
    return ("products", {"source": "recent", "pages": [], "count": count})


def _did_since(event_type: str, label: str, yes: list[Any], no: list[Any]) -> dict[str, Any]:
    return {
        "type": "branch",
        "value": {
            "label": label,
            "condition": [{"type": "event_since_entry", "value": {"event_type": event_type}}],
            "yes": yes,
            "no": no,
        },
    }


NAME = "{{ contact.first_name|default('there', true) }}"

BUILTIN_FLOWS: list[BuiltinFlow] = [
    BuiltinFlow(
        key="browse_abandonment",
        name="Browse abandonment",
        description="Viewed a product at least twice in a day and added nothing to the cart "
        "within 4 hours: a reminder showing what they looked at. Ends on an order.",
        fields=lambda: {
            "trigger_type": TriggerType.EVENT,
            "trigger_event_type": "product_viewed",
            "trigger_count": 2,
            "trigger_window_hours": 24,
            "reentry": Reentry.EVERY_N_DAYS,
            "reentry_days": 7,
            "goal_event_type": "order_placed",
            "topic": "",
        },
        steps=lambda: [
            _wait(4),
            _did_since(
                "cart_updated",
                "Added to the cart since?",
                yes=[{"type": "end", "value": None}],
                no=[
                    _email(
                        f"Still thinking it over, {NAME}?",
                        _heading("Still thinking it over?"),
                        _text("<p>Here is what you were looking at:</p>"),
                        _recent(3),
                    )
                ],
            ),
        ],
    ),
    BuiltinFlow(
        key="cart_abandonment",
        name="Cart abandonment",
        description="Left items in the cart: a reminder after 2 hours listing them, an "
        "incentive after 24 hours, a last chance after 3 days. Ends on an order.",
        fields=lambda: {
            "trigger_type": TriggerType.EVENT,
            "trigger_event_type": "cart_updated",
            "reentry": Reentry.EVERY_N_DAYS,
            "reentry_days": 3,
            "goal_event_type": "order_placed",
        },
        steps=lambda: [
            _wait(2),
            _email(
                f"{NAME}, your basket is waiting",
                _heading("You left something behind"),
                _text("<p>Your basket is saved:</p>"),
                ("raw", CART_ITEMS),
            ),
            _wait(22),
            _email(
                "A little something to help you decide",
                _heading("10% off your basket"),
                _text(
                    "<p>Use the code <b>COMEBACK10</b> at checkout for 10% off. "
                    "(Change this incentive to your own.)</p>"
                ),
                ("raw", CART_ITEMS),
            ),
            _wait(2, "days"),
            _email(
                "Last chance: your basket expires soon",
                _text("<p>We will keep your basket a little longer:</p>"),
                ("raw", CART_ITEMS),
            ),
        ],
    ),
    BuiltinFlow(
        key="post_purchase",
        name="Post-purchase",
        description="After each order: thanks at once, tips after 3 days, products that go "
        "with it after 10 days, a review request after 14 days.",
        fields=lambda: {
            "trigger_type": TriggerType.EVENT,
            "trigger_event_type": "order_placed",
            "reentry": Reentry.EVERY_TIME,
        },
        steps=lambda: [
            _email(
                f"Thank you, {NAME}",
                _heading("Thank you for your order"),
                _text("<p>We are packing it now. Reply to this email with any question.</p>"),
                capped=False,
            ),
            _wait(3, "days"),
            _email(
                "Getting the most from your order",
                _text("<p>A few tips to enjoy what you bought (write your own here).</p>"),
            ),
            _wait(7, "days"),
            _email("Goes well with your order", _text("<p>You might also like:</p>"), _recent(3)),
            _wait(4, "days"),
            _email(
                "How did we do?",
                _text("<p>Would you tell others what you think? Reply with a line or two.</p>"),
            ),
        ],
    ),
    BuiltinFlow(
        key="birthday",
        name="Birthday",
        description="On the contact's birthday at 10:00 their time: a birthday greeting.",
        fields=lambda: {
            "trigger_type": TriggerType.DATE,
            "trigger_date_field": "birthday",
            "trigger_time": dt.time(10),
            "reentry": Reentry.EVERY_TIME,
        },
        steps=lambda: [
            _email(
                f"Happy birthday, {NAME}!",
                _heading("Happy birthday!"),
                _text("<p>Here is a treat from us: 15% off with the code <b>BIRTHDAY15</b>.</p>"),
                capped=False,
            )
        ],
    ),
    BuiltinFlow(
        key="signup_anniversary",
        name="Sign-up anniversary",
        description="A year (and every year) after signing up, at 10:00 their time: thanks.",
        fields=lambda: {
            "trigger_type": TriggerType.DATE,
            "trigger_date_field": "created_at",
            "trigger_time": dt.time(10),
            "reentry": Reentry.EVERY_TIME,
        },
        steps=lambda: [
            _email(
                f"A year together, {NAME}",
                _text("<p>Thank you for being with us. Here is what is new:</p>"),
                _recent(3),
            )
        ],
    ),
    BuiltinFlow(
        key="win_back",
        name="Win-back",
        description="Became dormant: a re-engagement email, an incentive a week later if "
        "nothing happened, then a tag and a note to a colleague suggesting to stop emailing "
        "them.",
        fields=lambda: {
            "trigger_type": TriggerType.ENGAGEMENT,
            "trigger_engagement": "became_dormant",
            "reentry": Reentry.EVERY_N_DAYS,
            "reentry_days": 180,
            "goal_event_type": "order_placed",
        },
        steps=lambda: [
            _email(f"We miss you, {NAME}", _text("<p>Here is what is new since your visit:</p>")),
            _wait(7, "days"),
            _did_since(
                "page_viewed",
                "Came back since?",
                yes=[{"type": "end", "value": None}],
                no=[
                    _email("20% off, just for you", _text("<p>Use <b>MISSYOU20</b>.</p>")),
                    _wait(14, "days"),
                    {
                        "type": "update_contact",
                        "value": {"action": "add_tag", "name": "win-back-failed", "value": ""},
                    },
                    {
                        "type": "notify",
                        "value": {
                            "to": STAFF,
                            "message": "{{ contact.first_name or contact.email }} did not come "
                            "back after the win-back emails. Consider suppressing them (their "
                            "page: Suppress), or find everyone tagged win-back-failed.",
                        },
                    },
                ],
            ),
        ],
    ),
    BuiltinFlow(
        key="vip_reward",
        name="VIP reward",
        description="Total spend crossed 500: a thank-you reward, and a note to a colleague "
        "to say thanks personally.",
        fields=lambda: {
            "trigger_type": TriggerType.SEGMENT_ENTERED,
            "trigger_segment": _vip_segment(),
            "reentry": Reentry.ONCE,
        },
        steps=lambda: [
            _email(
                f"You are one of our best customers, {NAME}",
                _text("<p>Thank you. Free delivery on every order from now on.</p>"),
                capped=False,
            ),
            {
                "type": "notify",
                "value": {
                    "to": STAFF,
                    "message": "{{ contact.first_name }} just became a VIP: say thanks.",
                },
            },
        ],
    ),
    BuiltinFlow(
        key="welcome",
        name="Welcome series",
        description="Signed up: a welcome at once, the shop's story after 2 days, best "
        "sellers after 5 days.",
        fields=lambda: {
            "trigger_type": TriggerType.EVENT,
            "trigger_event_type": "signed_up",
            "reentry": Reentry.ONCE,
        },
        steps=lambda: [
            _email(
                f"Welcome, {NAME}",
                _heading("Welcome!"),
                _text("<p>Glad you are here.</p>"),
                capped=False,
            ),
            _wait(2, "days"),
            _email("Our story", _text("<p>How we started (write your own here).</p>")),
            _wait(3, "days"),
            _email("What people love most", _text("<p>Our best sellers:</p>"), _recent(3)),
        ],
    ),
]


def _addressed(steps: list[dict[str, Any]], staff: str) -> list[dict[str, Any]]:
    """``steps`` with their notes to ``STAFF`` sent to ``staff``, branches' steps too."""
    for step in steps:
        value = step["value"]
        if step["type"] == "notify" and value["to"] == STAFF:
            value["to"] = staff
        elif step["type"] == "branch":
            _addressed(value["yes"], staff)
            _addressed(value["no"], staff)
    return steps


def _vip_segment() -> Segment:
    segment, _ = Segment.objects.get_or_create(
        slug=VIP_SEGMENT["slug"],
        defaults={
            "name": VIP_SEGMENT["name"],
            "rules": {"version": 1, "rules": VIP_SEGMENT["rules"]},
        },
    )
    return segment


def get_builtin(key: str) -> BuiltinFlow:
    for builtin in BUILTIN_FLOWS:
        if builtin.key == key:
            return builtin
    raise ValueError(f"there is no built-in flow {key!r}")


def installed_keys() -> set[str]:
    return set(Flow.objects.exclude(builtin="").values_list("builtin", flat=True))


def install_builtin(key: str, *, staff_email: str = "") -> Flow:
    """Create the built-in flow ``key`` as a draft to edit; a second install gets a new name.

    Its notes to a colleague go to ``staff_email`` (the admin passes whoever installs it),
    or else to the shop's Reply-To or From address.
    """
    builtin = get_builtin(key)
    staff = staff_email or parseaddr(app_settings.REPLY_TO or settings.DEFAULT_FROM_EMAIL)[1]
    with transaction.atomic():
        name = builtin.name
        taken = set(Flow.objects.filter(name__startswith=name).values_list("name", flat=True))
        number = 2
        while name in taken:
            name = f"{builtin.name} ({number})"
            number += 1
        return Flow.objects.create(
            name=name,
            description=builtin.description,
            builtin=key,
            status=FlowStatus.DRAFT,
            steps=FlowStepsBlock().to_python(_addressed(builtin.steps(), staff)),
            **builtin.fields(),
        )
