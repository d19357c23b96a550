"""A campaign end to end: scheduled, queued from its audience, sent, in the real MIME."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.campaigns.conftest import EVERYONE, attribute_is, make_campaign, segment, subscribed
from tests.rendering.email_content import branch, dynamic, heading, paragraph, rules, stream
from tests.sending.conftest import SmtpRecorder
from wagtail_oneonone.api import track
from wagtail_oneonone.campaigns.content import CAMPAIGN_SOURCE, REVISION_SOURCE
from wagtail_oneonone.campaigns.schedule import Schedule
from wagtail_oneonone.campaigns.services import (
    CANCELLED_REASON,
    CampaignNotReady,
    cancel_campaign,
    check_ready,
    finish_campaigns,
    progress_of,
    queue_campaign,
    schedule_campaign,
    start_due_campaigns,
)
from wagtail_oneonone.contacts.services import set_consent
from wagtail_oneonone.models import (
    CampaignSend,
    CampaignStatus,
    Contact,
    EmailLayout,
    OutboxMessage,
    OutboxStatus,
    SendMode,
)
from wagtail_oneonone.sending.dispatch import dispatch_due
from wagtail_oneonone.sending.test_sends import send_test_of

pytestmark = pytest.mark.django_db

SUBSCRIBED: dict[str, Any] = {"condition": "consent", "status": ["subscribed"]}


def now_schedule(**kwargs: Any) -> Schedule:
    return Schedule(mode=SendMode.NOW, send_at=timezone.now(), **kwargs)


def three_way_body(vip_segment_id: int) -> Any:
    return stream(
        heading("Hello {{ contact.first_name|default('friend', true) }}"),
        dynamic(
            branch(
                "VIPs", ("segment", str(vip_segment_id)), paragraph("<p>Your VIP early access</p>")
            ),
            branch(
                "Carted lately",
                (
                    "rules",
                    rules(
                        {
                            "condition": "event",
                            "event_type": "cart_updated",
                            "window": {"type": "last", "amount": 7, "unit": "days"},
                        }
                    ),
                ),
                paragraph("<p>Still thinking about your basket?</p>"),
            ),
            fallback=[paragraph("<p>Discover the autumn range</p>")],
        ),
    )


BRANCH_TEXTS = (
    "Your VIP early access",
    "Still thinking about your basket?",
    "Discover the autumn range",
)


def test_each_of_three_contacts_receives_their_own_branch_of_a_dynamic_block(
    email_layout: EmailLayout, sending_settings: Any, smtp_server: SmtpRecorder
) -> None:
    vips = segment("VIPs", attribute_is("tier", "vip"))
    subscribers = segment("Subscribers", SUBSCRIBED)
    subscribed("vera@example.com", first_name="Vera", attributes={"tier": "vip"})
    subscribed("carl@example.com", first_name="Carl")
    track(
        "cart_updated",
        email="carl@example.com",
        properties={"items": [{"product_id": "scarf", "quantity": 1}]},
    )
    subscribed("nadia@example.com")  # no data at all: the fallback
    campaign = make_campaign(audience=[subscribers], body=three_way_body(vips.pk))

    schedule_campaign(campaign, now_schedule())
    assert queue_campaign(campaign.pk) == 3
    assert dispatch_due().sent == 3

    received = {message["To"].addresses[0].addr_spec: message for message in smtp_server.received}
    assert sorted(received) == ["carl@example.com", "nadia@example.com", "vera@example.com"]
    expected = {
        "vera@example.com": ("Vera", BRANCH_TEXTS[0]),
        "carl@example.com": ("Carl", BRANCH_TEXTS[1]),
        "nadia@example.com": ("friend", BRANCH_TEXTS[2]),
    }
    for address, (name, wanted) in expected.items():
        message = received[address]
        assert str(message["Subject"]) == f"Autumn at Oak & Thread, {name}"
        assert message["From"].addresses[0].addr_spec == "news@shop.example"
        assert message["Reply-To"].addresses[0].addr_spec == "jo@shop.example"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        for part in (html, text):
            assert f"Hello {name}" in part
            assert wanted in part
            assert not [other for other in BRANCH_TEXTS if other != wanted and other in part]
            assert "Leeds LS1 1AA" in part  # the layout's postal address
        assert "https://shop.example/email/unsubscribe/" in html
        assert "<style" in html and 'style="' in html  # CSS inlined, media queries kept

    send = CampaignSend.objects.get(pk=campaign.pk)
    assert (send.status, send.audience_size, send.queued) == (CampaignStatus.SENDING, 3, 3)
    assert finish_campaigns() == 1
    send.refresh_from_db()
    assert send.status == CampaignStatus.SENT and send.finished_at is not None
    assert progress_of(send).counts == {OutboxStatus.SENT: 3}


def test_the_audience_is_its_segments_minus_exclusions_each_contact_once(
    email_layout: EmailLayout, sending_settings: Any, anymail_backend: Any
) -> None:
    vips = segment("VIPs", attribute_is("tier", "vip"))
    locals_ = segment("Leeds", attribute_is("city", "leeds"))
    staff = segment("Staff", attribute_is("staff", "yes"))
    subscribed("both@example.com", attributes={"tier": "vip", "city": "leeds"})
    subscribed("vip@example.com", attributes={"tier": "vip"})
    subscribed("leeds@example.com", attributes={"city": "leeds"})
    subscribed("staff@example.com", attributes={"tier": "vip", "staff": "yes"})
    subscribed("other@example.com")
    campaign = make_campaign(audience=[vips, locals_], exclusions=[staff])
    schedule_campaign(campaign, now_schedule())
    assert queue_campaign(campaign.pk) == 3
    queued = OutboxMessage.objects.filter(source_type=CAMPAIGN_SOURCE)
    assert sorted(queued.values_list("contact__email", flat=True)) == [
        "both@example.com",
        "leeds@example.com",
        "vip@example.com",
    ]
    # Running again (a retried task, a resumed worker) queues no one twice.
    CampaignSend.objects.filter(pk=campaign.pk).update(queue_finished_at=None)
    assert queue_campaign(campaign.pk) == 0
    assert queued.count() == 3


def test_what_is_sent_is_the_revision_approved_when_it_was_scheduled(
    email_layout: EmailLayout, sending_settings: Any, anymail_backend: Any
) -> None:
    subscribed("ann@example.com", first_name="Ann")
    campaign = make_campaign(audience=[segment("All", EVERYONE)], subject="Approved subject")
    schedule_campaign(campaign, now_schedule())
    # The editor keeps typing after scheduling: a new draft, not approved.
    campaign.subject = "An unapproved draft"
    campaign.save_revision()
    queue_campaign(campaign.pk)
    dispatch_due()
    [sent] = anymail_backend.outbox
    assert sent.subject == "Approved subject"


def test_a_campaign_that_is_not_ready_says_every_reason(
    email_layout: EmailLayout, sending_settings: Any
) -> None:
    everyone = segment("All", EVERYONE)
    draft = make_campaign(audience=[everyone], publish=False)
    assert check_ready(draft) == [
        "Publish the campaign first (or have it approved): only approved content is sent."
    ]
    with pytest.raises(CampaignNotReady):
        schedule_campaign(draft, now_schedule())

    campaign = make_campaign(audience=[everyone])
    campaign.subject = "Changed"
    campaign.save_revision()
    assert "changes that are not published" in " ".join(check_ready(campaign))

    broken = make_campaign(
        audience=[everyone], subject="Hi {{ contact.first_name|uper }}", name="Broken"
    )
    subscribed("ann@example.com")
    [problem] = check_ready(broken)
    assert problem.startswith("It does not render:") and "uper" in problem

    EmailLayout.objects.all().delete()
    nobody = make_campaign(audience=[], name="No audience")
    assert check_ready(nobody) == [
        "Choose at least one segment to send to.",
        "Add an email layout (with your postal address) first.",
    ]
    assert not CampaignSend.objects.exists()


def test_a_campaign_is_scheduled_once(email_layout: EmailLayout, sending_settings: Any) -> None:
    campaign = make_campaign(audience=[segment("All", EVERYONE)])
    schedule_campaign(campaign, now_schedule())
    with pytest.raises(CampaignNotReady, match="already been scheduled"):
        schedule_campaign(campaign, now_schedule())


def test_a_scheduled_campaign_starts_queueing_when_its_time_comes(
    email_layout: EmailLayout, sending_settings: Any, anymail_backend: Any
) -> None:
    subscribed("ann@example.com")
    campaign = make_campaign(audience=[segment("All", EVERYONE)])
    send_at = timezone.now() + dt.timedelta(hours=3)
    send = schedule_campaign(campaign, Schedule(mode=SendMode.AT, send_at=send_at))
    assert send.queue_from == send_at - dt.timedelta(minutes=10)
    assert start_due_campaigns(timezone.now()) == 0
    assert not OutboxMessage.objects.exists()
    assert start_due_campaigns(send.queue_from) == 1
    [message] = OutboxMessage.objects.all()
    assert message.scheduled_at == send_at
    assert dispatch_due().sent == 0  # queued ahead, not yet due
    assert dispatch_due(clock=lambda: send_at).sent == 1


def test_cancelling_stops_everything_that_has_not_gone(
    email_layout: EmailLayout, sending_settings: Any, anymail_backend: Any
) -> None:
    for index in range(4):
        subscribed(f"c{index}@example.com")
    campaign = make_campaign(audience=[segment("All", EVERYONE)])
    start = timezone.now()
    schedule_campaign(campaign, Schedule(mode=SendMode.SPREAD, send_at=start, spread_hours=4))
    assert queue_campaign(campaign.pk, now=start) == 4
    assert dispatch_due(clock=lambda: start + dt.timedelta(minutes=1)).sent == 1
    assert cancel_campaign(campaign) == 3
    assert cancel_campaign(campaign) == 0  # once is enough
    skipped = OutboxMessage.objects.filter(status=OutboxStatus.SKIPPED)
    assert set(skipped.values_list("skip_reason", flat=True)) == {CANCELLED_REASON}
    assert dispatch_due(clock=lambda: start + dt.timedelta(hours=5)).sent == 0
    assert len(anymail_backend.outbox) == 1
    send = CampaignSend.objects.get(pk=campaign.pk)
    assert send.status == CampaignStatus.CANCELLED and send.cancelled_at is not None


def test_a_message_claimed_after_cancelling_is_skipped_not_sent(
    email_layout: EmailLayout, sending_settings: Any, anymail_backend: Any
) -> None:
    subscribed("ann@example.com")
    campaign = make_campaign(audience=[segment("All", EVERYONE)])
    schedule_campaign(campaign, now_schedule())
    queue_campaign(campaign.pk)
    # Cancelled behind the outbox's back (as if the row was claimed a moment before).
    CampaignSend.objects.filter(pk=campaign.pk).update(status=CampaignStatus.CANCELLED)
    assert dispatch_due().skipped == 1
    assert OutboxMessage.objects.get().skip_reason == "the campaign was cancelled"
    assert anymail_backend.outbox == []


def test_a_queueing_worker_that_died_is_resumed_without_duplicates(
    email_layout: EmailLayout, sending_settings: Any
) -> None:
    for index in range(5):
        subscribed(f"c{index}@example.com")
    campaign = make_campaign(audience=[segment("All", EVERYONE)])
    now = timezone.now()
    schedule_campaign(campaign, Schedule(mode=SendMode.NOW, send_at=now))
    assert queue_campaign(campaign.pk, now=now, batch_size=2) == 5
    # Pretend the worker died after its first batches: unfinished, lease still held.
    OutboxMessage.objects.filter(contact__email__in=["c3@example.com", "c4@example.com"]).delete()
    CampaignSend.objects.filter(pk=campaign.pk).update(
        queue_finished_at=None, queue_lease_until=now + dt.timedelta(minutes=5)
    )
    assert start_due_campaigns(now + dt.timedelta(minutes=1)) == 0  # its lease still holds
    assert start_due_campaigns(now + dt.timedelta(minutes=6)) == 2
    assert OutboxMessage.objects.count() == 5
    assert CampaignSend.objects.get(pk=campaign.pk).queue_finished_at is not None


def test_unsubscribed_contacts_in_the_audience_are_skipped_with_the_reason(
    email_layout: EmailLayout, sending_settings: Any, anymail_backend: Any
) -> None:
    subscribed("stays@example.com")
    leaver = subscribed("leaves@example.com")
    campaign = make_campaign(audience=[segment("All", EVERYONE)])
    schedule_campaign(campaign, now_schedule())
    queue_campaign(campaign.pk)
    set_consent(leaver, "unsubscribed", source="test")  # between queueing and sending
    result = dispatch_due()
    assert (result.sent, result.skipped) == (1, 1)
    skipped = OutboxMessage.objects.get(status=OutboxStatus.SKIPPED)
    assert skipped.contact == leaver and skipped.skip_reason


def test_a_test_send_of_a_draft_goes_to_the_staff_address(
    email_layout: EmailLayout, sending_settings: Any, anymail_backend: Any
) -> None:
    vera = subscribed("vera@example.com", first_name="Vera")
    campaign = make_campaign(audience=[segment("All", EVERYONE)], publish=False)
    campaign.subject = "Draft for {{ contact.first_name }}"
    revision = campaign.save_revision()
    send_test_of(REVISION_SOURCE, str(revision.pk), as_contact=vera, to_email="jo@shop.example")
    assert dispatch_due().sent == 1
    [sent] = anymail_backend.outbox
    assert sent.to == ["jo@shop.example"]
    assert sent.subject == "[Test] Draft for Vera"
    assert not CampaignSend.objects.exists()
    assert Contact.objects.get(pk=vera.pk).consent_status == "subscribed"


def test_what_arrives_is_what_the_preview_showed(
    email_layout: EmailLayout, sending_settings: Any, smtp_server: SmtpRecorder
) -> None:
    from wagtail_oneonone.campaigns.preview import render_campaign
    from wagtail_oneonone.models import SentContent

    vips = segment("VIPs", attribute_is("tier", "vip"))
    vera = subscribed("vera@example.com", first_name="Vera", attributes={"tier": "vip"})
    campaign = make_campaign(audience=[segment("All", EVERYONE)], body=three_way_body(vips.pk))
    preview = render_campaign(campaign, vera)
    assert preview.choices == ["Dynamic block 1: branch 'VIPs' (segment VIPs)"]
    assert preview.email is not None

    schedule_campaign(campaign, now_schedule())
    queue_campaign(campaign.pk)
    dispatch_due()
    [received] = smtp_server.received
    sent = SentContent.objects.get()
    arrived = received.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert arrived.strip() == sent.html.replace("\r\n", "\n").strip()
    # The same email, but for the links that are signed for the real message.
    links = {
        "#unsubscribe": sent.headers["List-Unsubscribe"].split(",")[0].strip("<> "),
        "#preferences": _preferences_link(sent.html),
    }
    shown = preview.email.html
    for placeholder, real in links.items():
        shown = shown.replace(placeholder, real.replace("&", "&amp;"))
    assert shown == sent.html
    assert str(received["Subject"]) == preview.email.subject


def _preferences_link(html: str) -> str:
    import re

    match = re.search(r'href="(https://shop\.example/email/preferences/[^"]+)"', html)
    assert match, "the email has a preferences link"
    return match.group(1).replace("&amp;", "&")


def test_send_now_runs_through_the_queue_by_itself(
    email_layout: EmailLayout,
    sending_settings: Any,
    anymail_backend: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # django-q2 in sync mode: scheduling starts the queueing task on commit, which queues
    # the copies, which wakes the dispatcher: no one calls the services by hand.
    subscribed("ann@example.com", first_name="Ann")
    subscribed("bob@example.com", first_name="Bob")
    campaign = make_campaign(audience=[segment("All", EVERYONE)])
    with django_capture_on_commit_callbacks(execute=True):
        schedule_campaign(campaign, now_schedule())
    assert sorted(message.to[0] for message in anymail_backend.outbox) == [
        "Ann <ann@example.com>",
        "Bob <bob@example.com>",
    ]
    assert CampaignSend.objects.get(pk=campaign.pk).queued == 2
