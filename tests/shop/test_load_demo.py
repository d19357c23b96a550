"""The demo loader: a small load, its consistency, idempotence and determinism."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from example_site.shop.models import Order, ProductPage
from wagtail_oneonone.flows.builtin import BUILTIN_FLOWS
from wagtail_oneonone.models import (
    ConsentChange,
    Contact,
    Enrollment,
    EnrollmentLog,
    Event,
    Flow,
    FlowStatus,
    OutboxMessage,
)

pytestmark = pytest.mark.django_db


def load(*args: str) -> str:
    out = StringIO()
    call_command(
        "load_demo",
        "--contacts=25",
        "--products=12",
        "--now=2025-06-01T12:00:00+00:00",
        *args,
        stdout=out,
    )
    return out.getvalue()


def fingerprint() -> tuple[object, ...]:
    return (
        list(ProductPage.objects.order_by("path").values_list("title", "price", "sku")),
        list(Contact.objects.order_by("email").values_list("email", "consent_status")),
        list(Order.objects.order_by("number").values_list("number", "total")),
        Event.objects.count(),
        sorted(Enrollment.objects.values_list("flow__name", "contact__email", "status")),
        sorted(
            EnrollmentLog.objects.values_list(
                "enrollment__flow__name", "enrollment__contact__email", "at", "action"
            )
        ),
        sorted(
            OutboxMessage.objects.values_list(
                "source_type", "contact__email", "status", "skip_reason", "sent_at"
            )
        ),
    )


def test_load_demo_builds_a_consistent_shop() -> None:
    output = load("--flow-days=0")

    assert "12 products, 25 contacts" in output
    assert "admin / oneonone-demo" in output
    assert ProductPage.objects.live().count() == 12
    assert ProductPage.objects.values("category").distinct().count() == 6
    assert Contact.objects.count() == 25
    assert Event.objects.filter(contact__isnull=True).exists()  # anonymous visitors
    assert get_user_model().objects.get(username="admin").is_superuser
    # Every order has its event, keyed as the live checkout keys it, with the same total.
    orders = {order.number: order.total for order in Order.objects.all()}
    placed = {
        event.properties["order_id"]: (event.value, event.dedup_key)
        for event in Event.objects.filter(type="order_placed")
    }
    assert orders
    assert placed == {number: (total, f"order-{number}") for number, total in orders.items()}
    # Consent states are backed by their audit rows.
    for contact in Contact.objects.exclude(consent_status="none"):
        latest = ConsentChange.objects.filter(contact=contact).latest("occurred_at")
        assert latest.status == contact.consent_status
    # The funnel narrows.
    counts = {
        kind: Event.objects.filter(type=kind).count()
        for kind in ("product_viewed", "cart_updated", "order_placed")
    }
    assert counts["product_viewed"] > counts["cart_updated"] > counts["order_placed"] > 0


def test_load_demo_is_idempotent_and_deterministic() -> None:
    load()
    first = fingerprint()

    again = load()

    assert "already loaded" in again
    assert fingerprint() == first

    load("--reset")

    assert fingerprint() == first
    assert get_user_model().objects.filter(username="admin").count() == 1


@pytest.mark.django_db
def test_the_demo_email_templates_are_valid_and_personalised() -> None:
    from example_site.shop.demo.emails import install_email_templates
    from wagtail_oneonone.models import Contact, EmailTemplate
    from wagtail_oneonone.rendering import build_context, render_email, validate_template
    from wagtail_oneonone.sending.sources import content_of

    assert install_email_templates() == 2
    assert install_email_templates() == 0
    contact = Contact.objects.create(email="zoe@example.com", first_name="Zoe")
    for template in EmailTemplate.objects.all():
        source = content_of(template).template
        assert [i for i in validate_template(source) if i.severity == "error"] == []
        rendered = render_email(source, build_context(contact))
        assert "Zoe" in rendered.subject


def test_the_demo_campaign_is_ready_to_send_and_its_branches_split_the_shoppers() -> None:
    import datetime as dt
    from collections import Counter

    from wagtail_oneonone.campaigns.preview import render_campaign
    from wagtail_oneonone.campaigns.services import audience_of, check_ready
    from wagtail_oneonone.models import Campaign

    load("--contacts=60", "--flow-days=0")
    now = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)  # the demo history's "now"
    campaign = Campaign.objects.get(name="Autumn favourites")
    assert check_ready(campaign) == []
    audience = list(audience_of(campaign).order_by("pk"))
    assert audience and all(contact.consent_status == "subscribed" for contact in audience)
    branches: Counter[str] = Counter()
    for contact in audience:
        preview = render_campaign(campaign, contact, now=now)
        assert preview.error is None and preview.email is not None
        assert "Leeds LS1 1AA" in preview.email.html
        branches.update(preview.choices)
    # The demo's history gives every branch someone (VIPs, a waiting basket, the rest).
    assert len(branches) == 3, branches

    load("--reset", "--flow-days=0")
    assert Campaign.objects.filter(name="Autumn favourites").count() == 1


def test_the_demo_runs_every_built_in_flow_over_its_last_weeks() -> None:
    import datetime as dt

    output = load("--contacts=300")
    now = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
    since = now - dt.timedelta(days=21)
    flows = list(Flow.objects.all())
    assert sorted(flow.builtin for flow in flows) == sorted(b.key for b in BUILTIN_FLOWS)
    for flow in flows:
        assert (flow.status, flow.activated_at) == (FlowStatus.ACTIVE, since)
        sent = OutboxMessage.objects.filter(
            source_type="flow", source_id__startswith=f"{flow.pk}:", status="sent"
        )
        # Everyone in it entered after it was turned on and by the demo's "now"; each flow
        # emailed someone.
        entered = flow.enrollments.values_list("entered_at", flat=True)
        assert entered and all(since <= at <= now for at in entered), flow.name
        assert sent.exists(), flow.name
        assert f"  {flow.name}: {len(entered)} entered, {sent.count()} sent" in output
        assert all(since <= at <= now for at in sent.values_list("sent_at", flat=True))
    # Replayed as it happened: a goal is reached by an order placed after entering and
    # no later than the enrollment ended (the database held nothing from its future).
    ended_by_goal = Enrollment.objects.filter(status="goal").select_related("flow")
    assert ended_by_goal.exists()
    for enrollment in ended_by_goal:
        orders = Event.objects.filter(
            contact_id=enrollment.contact_id,
            type="order_placed",
            occurred_at__gt=enrollment.entered_at,
            occurred_at__lte=enrollment.finished_at,
        )
        assert orders.exists(), enrollment
    # Every order in the window started the post-purchase flow; a cart reminder was sent
    # and a VIP's colleague was told.
    post_purchase = Flow.objects.get(builtin="post_purchase")
    orders = Event.objects.filter(type="order_placed", occurred_at__gt=since)
    assert set(post_purchase.enrollments.values_list("trigger_event_id", flat=True)) == set(
        orders.filter(contact__isnull=False).values_list("pk", flat=True)
    )
    assert EnrollmentLog.objects.filter(
        enrollment__flow__builtin="cart_abandonment", action="sent"
    ).exists()
    assert OutboxMessage.objects.filter(source_type="flow_notify", status="sent").exists()
    # The worker takes over from here: nothing is due before "now" but what quiet hours hold.
    assert not Enrollment.objects.filter(status="active", next_run_at__lt=now).exists()
