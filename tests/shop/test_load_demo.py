"""The demo loader: a small load, its consistency, idempotence and determinism."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from example_site.shop.models import Order, ProductPage
from wagtail_oneonone.models import ConsentChange, Contact, Event

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
    )


def test_load_demo_builds_a_consistent_shop() -> None:
    output = load()

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

    load("--contacts=60")
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

    load("--reset")
    assert Campaign.objects.filter(name="Autumn favourites").count() == 1
