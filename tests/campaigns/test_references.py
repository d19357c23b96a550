"""A segment a campaign still needs cannot be deleted from under it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.campaigns.conftest import EVERYONE, attribute_is, make_campaign, segment
from tests.rendering.email_content import branch, dynamic, paragraph, rules, stream
from wagtail_oneonone.campaigns.references import campaigns_using
from wagtail_oneonone.campaigns.schedule import Schedule
from wagtail_oneonone.campaigns.services import cancel_campaign, schedule_campaign
from wagtail_oneonone.models import EmailLayout, Segment, SendMode

pytestmark = pytest.mark.django_db


def test_campaigns_using_a_segment_in_any_role_are_found() -> None:
    audience = segment("Audience", EVERYONE)
    excluded = segment("Excluded", attribute_is("staff", "yes"))
    branch_segment = segment("VIPs", attribute_is("tier", "vip"))
    nested = segment("Leeds", attribute_is("city", "leeds"))
    unused = segment("Unused", EVERYONE)
    body = stream(
        dynamic(
            branch("VIPs", ("segment", str(branch_segment.pk)), paragraph("<p>VIP</p>")),
            branch(
                "Leeds",
                ("rules", rules({"condition": "segment", "segment": nested.pk})),
                paragraph("<p>Leeds</p>"),
            ),
            fallback=[paragraph("<p>Everyone</p>")],
        )
    )
    campaign = make_campaign(audience=[audience], exclusions=[excluded], body=body)
    for used in (audience, excluded, branch_segment, nested):
        assert campaigns_using(used) == [campaign], used.name
    assert campaigns_using(unused) == []
    # A draft that adds a segment counts too: publishing it later would need it.
    campaign.audience = [audience, unused]
    campaign.save_revision()
    assert campaigns_using(unused) == [campaign]


def test_a_cancelled_or_sent_campaign_no_longer_holds_its_segments(
    email_layout: EmailLayout, sending_settings: Any
) -> None:
    audience = segment("Audience", EVERYONE)
    campaign = make_campaign(audience=[audience])
    schedule_campaign(campaign, Schedule(mode=SendMode.NOW, send_at=timezone.now()))
    assert campaigns_using(audience) == [campaign]
    cancel_campaign(campaign)
    assert campaigns_using(audience) == []


def test_the_admin_refuses_to_delete_a_segment_a_campaign_uses(admin_client: Client) -> None:
    audience = segment("Newsletter readers", EVERYONE)
    make_campaign(audience=[audience], name="Winter sale")
    url = reverse("oneonone_segment:delete", args=[audience.pk])
    html = admin_client.get(url).content.decode()
    assert "campaigns not yet sent use it (“Winter sale”)" in html
    assert admin_client.post(url).status_code == 302
    assert Segment.objects.filter(pk=audience.pk).exists()
