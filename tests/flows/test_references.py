"""A segment a flow needs cannot be deleted from under it."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from tests.campaigns.conftest import EVERYONE, attribute_is, segment
from tests.flows.conftest import make_flow, send, step, text
from tests.rendering.email_content import branch as content_branch
from tests.rendering.email_content import dynamic, paragraph
from wagtail_oneonone.flows.references import flows_using
from wagtail_oneonone.models import Segment, TriggerType

pytestmark = pytest.mark.django_db
HELLO = [send("s", "Hi", text("<p>Hi</p>"))]


def test_flows_using_a_segment_in_any_role_are_found() -> None:
    trigger, entry, goal, branch, nested, in_email, unused = (
        segment(name, EVERYONE)
        for name in ("Trigger", "Entry", "Goal", "Branch", "Nested", "In an email", "Unused")
    )
    by_trigger = make_flow(
        "By trigger", HELLO, trigger_type=TriggerType.SEGMENT_ENTERED, trigger_segment=trigger
    )
    by_fields = make_flow(
        "By fields",
        HELLO,
        trigger_event_type="signed_up",
        entry_segment=entry,
        goal_left_segment=goal,
    )
    condition = [{"type": "segment", "value": str(branch.pk)}]
    rules = json.dumps({"version": 1, "rules": {"condition": "segment", "segment": nested.pk}})
    by_branch = make_flow(
        "By branches",
        [
            step("branch", "b1", {"label": "x", "condition": condition, "yes": [], "no": []}),
            step(
                "branch",
                "b2",
                {
                    "label": "y",
                    "condition": [{"type": "rules", "value": rules}],
                    "yes": [],
                    "no": HELLO,
                },
            ),
        ],
        trigger_event_type="signed_up",
    )
    # An email's dynamic block, on one side of a branch.
    personal = dynamic(
        content_branch("Them", ("segment", str(in_email.pk)), paragraph("<p>You</p>")),
        fallback=[paragraph("<p>Everyone</p>")],
    )
    by_email = make_flow(
        "By an email",
        [
            step(
                "branch",
                "b",
                {
                    "label": "z",
                    "condition": condition,
                    "yes": [send("s", "Hi", personal)],
                    "no": [],
                },
            )
        ],
        trigger_event_type="signed_up",
    )
    assert flows_using(trigger) == [by_trigger]
    assert flows_using(entry) == flows_using(goal) == [by_fields]
    assert flows_using(branch) == [by_email, by_branch]
    assert flows_using(nested) == [by_branch]
    assert flows_using(in_email) == [by_email]
    assert flows_using(unused) == []


def test_the_admin_refuses_to_delete_a_segment_a_flow_uses(admin_client: Client) -> None:
    vips = segment("VIPs", attribute_is("tier", "vip"))
    make_flow("VIP reward", HELLO, trigger_type=TriggerType.SEGMENT_ENTERED, trigger_segment=vips)
    url = reverse("oneonone_segment:delete", args=[vips.pk])
    assert "flows use it (“VIP reward”)" in admin_client.get(url).content.decode()
    assert admin_client.post(url).status_code == 302
    assert Segment.objects.filter(pk=vips.pk).exists()
