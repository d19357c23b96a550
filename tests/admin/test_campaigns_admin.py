"""Campaigns in the admin: the snippet's form (a dynamic block posted as the StreamField
sends it), previews as contacts, test sends, scheduling with the send permission,
cancelling, the campaign page and a workflow's approval before anything can go."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from wagtail.models import (
    GroupApprovalTask,
    ModelLogEntry,
    Workflow,
    WorkflowContentType,
    WorkflowTask,
)
from wagtail.test.utils.form_data import (
    nested_form_data,
    querydict_from_html,
    rich_text,
    streamfield,
)

from tests.campaigns.conftest import EVERYONE, attribute_is, make_campaign, segment
from tests.rendering.email_content import branch, dynamic, heading, paragraph, stream
from tests.sending.conftest import subscribed
from wagtail_oneonone.admin.campaigns import status_label
from wagtail_oneonone.blocks import RICH_TEXT_FEATURES
from wagtail_oneonone.campaigns.content import REVISION_SOURCE
from wagtail_oneonone.campaigns.preview import SESSION_KEY
from wagtail_oneonone.campaigns.schedule import QUEUE_AHEAD, Schedule
from wagtail_oneonone.campaigns.services import (
    CANCELLED_REASON,
    queue_campaign,
    schedule_campaign,
)
from wagtail_oneonone.models import (
    Campaign,
    CampaignSend,
    CampaignStatus,
    Contact,
    EmailLayout,
    OutboxMessage,
    OutboxStatus,
    Segment,
    SendMode,
)
from wagtail_oneonone.sending.dispatch import dispatch_due

pytestmark = pytest.mark.django_db

SITE_ZONE = ZoneInfo("Europe/London")  # tests/settings.py TIME_ZONE
VIP_TEXT = "Your VIP early access"
FALLBACK_TEXT = "Discover the autumn range"
EDITOR_PERMS = (
    "wagtail_oneonone.add_campaign",
    "wagtail_oneonone.change_campaign",
    "wagtail_oneonone.view_contact",
)
SENDER_PERMS = (
    *EDITOR_PERMS,
    "wagtail_oneonone.publish_campaign",
    "wagtail_oneonone.send_campaign",
)


def url(name: str, campaign: Campaign | None = None) -> str:
    return reverse(f"oneonone_campaign:{name}", args=[campaign.pk] if campaign else [])


def refused(response: Any) -> bool:
    """Wagtail answers a denied admin page with a redirect home and a message."""
    return response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")


def message_texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def email_layout(db: None) -> EmailLayout:
    return EmailLayout.objects.create(
        name="Oak & Thread", is_default=True, postal_address="Oak & Thread Ltd, 1 Mill Lane"
    )


@pytest.fixture
def segments(db: None) -> dict[str, Segment]:
    return {
        "everyone": segment("Everyone", EVERYONE),
        "vips": segment("VIPs", attribute_is("tier", "vip")),
        "lapsed": segment("Lapsed", attribute_is("tier", "lapsed")),
    }


@pytest.fixture
def people(db: None) -> dict[str, Contact]:
    return {
        "vera": subscribed("vera@example.com", first_name="Vera", attributes={"tier": "vip"}),
        "nadia": subscribed("nadia@example.com", first_name="Nadia"),
        "lou": Contact.objects.create(
            email="lou@example.com", first_name="Lou", attributes={"tier": "lapsed"}
        ),
    }


def vip_body(segments: dict[str, Segment]) -> Any:
    return stream(
        heading("Hello {{ contact.first_name|default('friend', true) }}"),
        dynamic(
            branch("VIPs", ("segment", str(segments["vips"].pk)), paragraph(f"<p>{VIP_TEXT}</p>")),
            fallback=[paragraph(f"<p>{FALLBACK_TEXT}</p>")],
        ),
    )


@pytest.fixture
def campaign(
    segments: dict[str, Segment], people: dict[str, Contact], email_layout: EmailLayout
) -> Campaign:
    return make_campaign(
        audience=[segments["everyone"]],
        exclusions=[segments["lapsed"]],
        body=vip_body(segments),
    )


def stream_block(kind: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "value": value, "deleted": "", "order": "0", "id": ""}


def list_items(*values: Any) -> dict[str, Any]:
    """A ListBlock's form data (``count`` and per item ``value``, ``deleted``, ``order``)."""
    items: dict[str, Any] = {
        str(index): {"value": value, "deleted": "", "order": str(index), "id": ""}
        for index, value in enumerate(values)
    }
    items["count"] = str(len(values))
    return items


def body_form_data(vips: Segment) -> dict[str, Any]:
    """A heading and a dynamic block (VIPs get one paragraph, everyone else another)."""
    return streamfield(
        [
            (
                "heading",
                {
                    "text": "Hello {{ contact.first_name|default('friend', true) }}",
                    "level": "h2",
                    "align": "left",
                },
            ),
            (
                "dynamic",
                {
                    "branches": list_items(
                        {
                            "label": "VIPs",
                            "condition": streamfield([("segment", str(vips.pk))]),
                            "content": streamfield(
                                [
                                    (
                                        "rich_text",
                                        rich_text(
                                            f"<p>{VIP_TEXT}</p>", features=RICH_TEXT_FEATURES
                                        ),
                                    )
                                ]
                            ),
                        }
                    ),
                    "fallback": streamfield(
                        [
                            (
                                "rich_text",
                                rich_text(f"<p>{FALLBACK_TEXT}</p>", features=RICH_TEXT_FEATURES),
                            )
                        ]
                    ),
                },
            ),
        ]
    )


def campaign_form_data(segments: dict[str, Segment], **overrides: Any) -> dict[str, Any]:
    data = nested_form_data(
        {
            "name": "Autumn news",
            "subject": "Autumn at Oak & Thread, {{ contact.first_name|default('friend', true) }}",
            "preheader": "New things for you",
            "from_email": "Oak & Thread <news@shop.example>",
            "reply_to": "Jo Maker <jo@shop.example>",
            "topic": "",
            "layout": "",
            "body": body_form_data(segments["vips"]),
        }
    )
    data["audience"] = [str(segments["everyone"].pk)]
    data["exclusions"] = [str(segments["lapsed"].pk)]
    data.update(overrides)
    return data


# The snippets: menu, form, listing ----------------------------------------------------------


def test_campaigns_and_layouts_are_in_the_apps_menu_not_under_snippets(
    admin_client: Client,
) -> None:
    assert url("list") == "/admin/oneonone_campaign/"
    assert reverse("oneonone_email_layout:list") == "/admin/oneonone_email_layout/"
    content = admin_client.get(reverse("wagtailadmin_home")).content.decode()
    menu = json.dumps(content)
    assert "Campaigns" in menu and "Email layouts" in menu
    assert reverse("oneonone_email_layout:list") in content
    assert admin_client.get(reverse("oneonone_email_layout:add")).status_code == 200


def test_create_a_campaign_with_a_dynamic_block_and_publish_it(
    admin_client: Client, segments: dict[str, Segment], email_layout: EmailLayout
) -> None:
    form_page = admin_client.get(url("add"))
    assert form_page.status_code == 200
    content = form_page.content.decode()
    for tab in ("Audience", "Message", "Content"):
        assert f">{tab}<" in content or f"{tab}\n" in content
    assert 'type="checkbox" name="audience"' in content
    assert "VIPs" in content and "Lapsed" in content

    data = campaign_form_data(segments, **{"action-publish": "action-publish"})
    response = admin_client.post(url("add"), data)
    assert response.status_code == 302, response.context["form"].errors

    campaign = Campaign.objects.get()
    assert campaign.live and not campaign.has_unpublished_changes
    assert [s.name for s in campaign.audience.all()] == ["Everyone"]
    assert [s.name for s in campaign.exclusions.all()] == ["Lapsed"]
    kinds = [block.block_type for block in campaign.body]
    assert kinds == ["heading", "dynamic"]
    dynamic_value = campaign.body[1].value
    assert dynamic_value["branches"][0]["label"] == "VIPs"
    assert dynamic_value["branches"][0]["condition"][0].value == str(segments["vips"].pk)


def test_drafts_revisions_and_locks_come_from_wagtails_snippets(
    client_for: Callable[..., Client], campaign: Campaign, segments: dict[str, Segment]
) -> None:
    sam = client_for("sam", *SENDER_PERMS, "wagtail_oneonone.lock_campaign")
    eddie = client_for("eddie", *EDITOR_PERMS)

    # A draft is a new revision; what is live (and would be sent) stays as published.
    draft = campaign_form_data(segments, name="Autumn news, second draft")
    assert eddie.post(url("edit", campaign), draft).status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Autumn news" and campaign.has_unpublished_changes
    assert campaign.latest_revision.as_object().name == "Autumn news, second draft"
    assert campaign.revisions.count() == 2
    assert "second draft" in sam.get(url("history", campaign)).content.decode()

    # Locked by Sam, Eddie's edits are refused.
    assert sam.post(url("lock", campaign)).status_code == 302
    campaign.refresh_from_db()
    assert campaign.locked and campaign.locked_by.username == "sam"
    eddie.post(url("edit", campaign), campaign_form_data(segments, name="Overwritten"))
    assert campaign.revisions.count() == 2


def test_create_an_email_layout_through_its_form(admin_client: Client) -> None:
    add = reverse("oneonone_email_layout:add")
    data = querydict_from_html(admin_client.get(add).content.decode(), form_id="w-editor-form")
    data["name"] = "Oak & Thread"
    data["postal_address"] = "Oak & Thread Ltd\n1 Mill Lane"
    data["is_default"] = "on"
    response = admin_client.post(add, data)
    assert response.status_code == 302
    layout = EmailLayout.objects.get()
    assert layout.is_default and layout.brand_colour == "#2563eb"
    listing = admin_client.get(reverse("oneonone_email_layout:list")).content.decode()
    assert "Oak &amp; Thread" in listing


def test_the_form_refuses_a_broken_subject_and_a_bad_reply_to(
    admin_client: Client, segments: dict[str, Segment]
) -> None:
    data = campaign_form_data(
        segments,
        subject="Hello {{ contact.first_name",
        reply_to="not an address",
        **{"action-publish": "action-publish"},
    )
    response = admin_client.post(url("add"), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "subject" in errors and "reply_to" in errors
    assert not Campaign.objects.exists()


def test_listing_shows_status_audience_and_times(
    admin_client: Client, campaign: Campaign, segments: dict[str, Segment]
) -> None:
    draft = make_campaign(name="Spring teaser", audience=[segments["vips"]], publish=False)
    make_campaign(name="Summer sale", audience=[segments["vips"]])  # published, not scheduled
    send_at = timezone.now() + dt.timedelta(days=2)
    schedule_campaign(campaign, Schedule(mode=SendMode.AT, send_at=send_at))
    response = admin_client.get(url("list"))
    assert response.status_code == 200
    rows = {row.name: row for row in response.context["object_list"]}
    assert rows["Autumn news"].send_status == CampaignStatus.SCHEDULED
    assert rows["Spring teaser"].send_status == CampaignStatus.DRAFT
    content = response.content.decode()
    labels = {name: status_label(row) for name, row in rows.items()}
    assert labels == {
        "Autumn news": "Scheduled",
        "Spring teaser": "Draft",
        "Summer sale": "Ready to schedule",
    }
    assert "Ready to schedule" in content
    assert "Everyone, but not Lapsed" in content
    assert "Scheduled / sent" in content
    assert url("report", campaign) in content
    assert url("preview_as", draft) in content
    assert url("schedule", draft) in content  # a draft may be scheduled (once published)
    assert url("schedule", campaign) not in content  # already scheduled
    found = admin_client.get(url("list"), {"q": "spring"}).context["object_list"]
    assert [row.name for row in found] == ["Spring teaser"]


def test_edit_header_links_to_the_campaigns_pages(
    client_for: Callable[..., Client], campaign: Campaign
) -> None:
    sender = client_for("sam", *SENDER_PERMS)
    content = sender.get(url("edit", campaign)).content.decode()
    for name in ("report", "preview_as", "schedule"):
        assert url(name, campaign) in content
    editor = client_for("eddie", "wagtail_oneonone.change_campaign")
    content = editor.get(url("edit", campaign)).content.decode()
    assert url("report", campaign) in content
    assert url("schedule", campaign) not in content  # no send permission
    assert url("preview_as", campaign) not in content  # may not see contacts


def test_send_permission_is_offered_on_the_group_page(admin_client: Client) -> None:
    group = Group.objects.create(name="Marketing")
    response = admin_client.get(reverse("wagtailusers_groups:edit", args=[group.pk]))
    content = response.content.decode()
    send = Permission.objects.get(codename="send_campaign")
    publish = Permission.objects.get(codename="publish_campaign")
    assert "Can schedule and send campaigns" in content
    assert f'value="{send.pk}"' in content
    assert f'value="{publish.pk}"' in content


def test_a_scheduled_campaign_and_a_layout_in_use_are_not_deleted(
    admin_client: Client, campaign: Campaign, email_layout: EmailLayout
) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(layout=email_layout)
    schedule_campaign(campaign, Schedule(mode=SendMode.NOW, send_at=timezone.now()))
    for method in (admin_client.get, admin_client.post):
        response = method(url("delete", campaign))
        assert response["Location"] == url("list")
        assert any("has been scheduled" in text for text in message_texts(response))
        layout_delete = reverse("oneonone_email_layout:delete", args=[email_layout.pk])
        response = method(layout_delete)
        assert response["Location"] == reverse("oneonone_email_layout:list")
        assert any("campaigns use it (“Autumn news”)" in text for text in message_texts(response))
    assert Campaign.objects.exists() and EmailLayout.objects.exists()

    draft = make_campaign(name="Never sent", audience=list(campaign.audience.all()), publish=False)
    assert admin_client.post(url("delete", draft)).status_code == 302
    assert not Campaign.objects.filter(pk=draft.pk).exists()


# Preview as a contact and test sends --------------------------------------------------------


def test_preview_as_two_contacts_shows_their_own_dynamic_content(
    admin_client: Client,
    campaign: Campaign,
    people: dict[str, Contact],
    segments: dict[str, Segment],
) -> None:
    vera = admin_client.get(url("preview_as", campaign), {"contact": "vera@example.com"})
    assert vera.status_code == 200
    html = vera.context["preview"].email.html
    assert VIP_TEXT in html and FALLBACK_TEXT not in html
    assert vera.context["preview"].choices == ["Dynamic block 1: branch 'VIPs' (segment VIPs)"]
    content = vera.content.decode()
    assert "Autumn at Oak &amp; Thread, Vera" in content
    assert "Dynamic block 1: branch &#x27;VIPs&#x27; (segment VIPs)" in content
    assert 'sandbox=""' in content and 'width="640"' in content and 'width="375"' in content
    assert admin_client.session[SESSION_KEY] == people["vera"].pk

    nadia = admin_client.get(url("preview_as", campaign), {"contact": str(people["nadia"].pk)})
    html = nadia.context["preview"].email.html
    assert FALLBACK_TEXT in html and VIP_TEXT not in html
    assert nadia.context["preview"].choices == ["Dynamic block 1: fallback"]
    assert "Autumn at Oak &amp; Thread, Nadia" in nadia.content.decode()
    assert admin_client.session[SESSION_KEY] == people["nadia"].pk

    # Without a contact, the page (and the editor's live preview) keeps the last one chosen.
    again = admin_client.get(url("preview_as", campaign))
    assert again.context["contact"] == people["nadia"]
    live_url = reverse("oneonone_campaign:preview_on_edit", args=[campaign.pk])
    assert admin_client.post(live_url, campaign_form_data(segments)).json()["is_valid"]
    live = admin_client.get(live_url).content.decode()
    assert FALLBACK_TEXT in live and VIP_TEXT not in live  # as Nadia, the contact chosen last


def test_preview_renders_the_latest_draft_not_the_published_version(
    admin_client: Client, campaign: Campaign, segments: dict[str, Segment]
) -> None:
    campaign.subject = "Draft subject for {{ contact.first_name }}"
    campaign.save_revision()
    response = admin_client.get(url("preview_as", campaign), {"contact": "vera@example.com"})
    assert response.context["preview"].email.subject == "Draft subject for Vera"
    assert "not published yet" in response.content.decode()


def test_preview_shows_a_render_error_clearly(
    admin_client: Client,
    segments: dict[str, Segment],
    people: dict[str, Contact],
    email_layout: EmailLayout,
) -> None:
    broken = make_campaign(
        audience=[segments["everyone"]],
        body=stream(("raw", "<p>{{ 1 // 0 }}</p>")),
    )
    response = admin_client.get(url("preview_as", broken), {"contact": "nadia@example.com"})
    assert response.status_code == 200
    assert response.context["preview"].error is not None
    content = response.content.decode()
    assert "data-oneonone-render-error" in content
    assert "does not render for this contact" in content


def test_preview_needs_permission_to_see_contacts(
    client_for: Callable[..., Client], campaign: Campaign
) -> None:
    editor = client_for("eddie", "wagtail_oneonone.change_campaign")
    assert refused(editor.get(url("preview_as", campaign)))
    assert refused(editor.post(url("send_test", campaign), {"contact": "vera@example.com"}))
    outsider = client_for("olga", "wagtail_oneonone.view_contact")
    assert refused(outsider.get(url("preview_as", campaign)))
    assert not OutboxMessage.objects.exists()


def test_send_a_test_of_the_draft_to_myself(
    client_for: Callable[..., Client], campaign: Campaign, people: dict[str, Contact]
) -> None:
    editor = client_for("eddie", *EDITOR_PERMS)
    response = editor.post(url("send_test", campaign), {"contact": str(people["vera"].pk)})
    assert response.status_code == 302
    assert response["Location"].endswith(f"?contact={people['vera'].pk}")
    message = OutboxMessage.objects.get()
    assert message.contact == people["vera"]
    assert message.source_type == "test"
    assert message.source_id == str(campaign.latest_revision.pk)
    assert message.context["deliver_to"] == "eddie@staff.example"
    assert message.context["test_of"] == REVISION_SOURCE
    assert any("on its way to eddie@staff.example" in text for text in message_texts(response))


def test_a_test_needs_an_email_address_on_the_account(
    client_for: Callable[..., Client], campaign: Campaign, make_user: Callable[..., Any]
) -> None:
    user = make_user("nomail", *EDITOR_PERMS)
    user.email = ""
    user.save()
    client = Client()
    client.force_login(user)
    response = client.post(url("send_test", campaign), {"contact": "vera@example.com"})
    assert not OutboxMessage.objects.exists()
    assert any("no email address" in text for text in message_texts(response))


# Scheduling --------------------------------------------------------------------------------


def local_input(moment: dt.datetime) -> str:
    return moment.astimezone(SITE_ZONE).strftime("%Y-%m-%dT%H:%M")


def test_scheduling_needs_the_send_permission(
    client_for: Callable[..., Client], campaign: Campaign
) -> None:
    editor = client_for("eddie", *EDITOR_PERMS, "wagtail_oneonone.publish_campaign")
    assert refused(editor.get(url("schedule", campaign)))
    response = editor.post(url("schedule", campaign), {"mode": "now", "confirm": "yes"})
    assert refused(response)
    ajax = {"x-requested-with": "XMLHttpRequest"}
    forbidden = editor.post(
        url("schedule", campaign), {"mode": "now", "confirm": "yes"}, headers=ajax
    )
    assert forbidden.status_code == 403
    assert not CampaignSend.objects.exists()


def test_scheduling_is_refused_while_changes_are_unpublished(
    client_for: Callable[..., Client], campaign: Campaign
) -> None:
    campaign.subject = "Changed"
    campaign.save_revision()
    sender = client_for("sam", *SENDER_PERMS)
    page = sender.get(url("schedule", campaign))
    assert "changes that are not published" in page.content.decode()
    assert "data-oneonone-schedule-form" not in page.content.decode()
    response = sender.post(url("schedule", campaign), {"mode": "now", "confirm": "yes"})
    assert response.status_code == 200
    assert "changes that are not published" in response.content.decode()
    assert not CampaignSend.objects.exists()


def test_schedule_at_a_time_asks_for_confirmation_then_schedules(
    client_for: Callable[..., Client], campaign: Campaign
) -> None:
    sender = client_for("sam", *SENDER_PERMS)
    page = sender.get(url("schedule", campaign))
    content = page.content.decode()
    assert page.context["audience_size"] == 2  # everyone but the lapsed contact
    assert "Europe/London" in content

    send_at = (timezone.now() + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    data = {"mode": "at", "send_at": local_input(send_at)}
    confirm = sender.post(url("schedule", campaign), data)
    assert confirm.status_code == 200
    assert confirm.context["confirming"]
    assert not CampaignSend.objects.exists()
    assert 'name="confirm" value="yes"' in confirm.content.decode()
    back = sender.post(url("schedule", campaign), {**data, "change": "yes"})
    assert not back.context["confirming"]
    assert f'value="{local_input(send_at)}"' in back.content.decode()  # kept

    done = sender.post(url("schedule", campaign), {**data, "confirm": "yes"})
    assert done.status_code == 302
    assert done["Location"] == url("report", campaign)
    send = CampaignSend.objects.get()
    assert send.status == CampaignStatus.SCHEDULED
    assert send.mode == SendMode.AT
    assert send.send_at == send_at
    assert send.queue_from == send_at - QUEUE_AHEAD
    assert send.revision == campaign.live_revision
    assert send.scheduled_by is not None and send.scheduled_by.username == "sam"
    entry = ModelLogEntry.objects.get(action="wagtail_oneonone.schedule_campaign")
    assert entry.object_id == str(campaign.pk)
    assert entry.data["mode"] == "at"
    when = send_at.astimezone(SITE_ZONE).strftime("%Y-%m-%d %H:%M")
    assert entry.message == f"Campaign scheduled: At a time {when} (Europe/London)"
    history = sender.get(url("history", campaign)).content.decode()
    assert "Campaign scheduled: At a time" in history

    page = sender.get(url("report", campaign))
    assert "Scheduled" in page.content.decode()


def test_times_in_the_past_are_refused(
    client_for: Callable[..., Client], campaign: Campaign
) -> None:
    sender = client_for("sam", *SENDER_PERMS)
    past = timezone.now() - dt.timedelta(hours=1)
    response = sender.post(
        url("schedule", campaign), {"mode": "at", "send_at": local_input(past), "confirm": "yes"}
    )
    assert "send_at" in response.context["form"].errors
    response = sender.post(url("schedule", campaign), {"mode": "at", "confirm": "yes"})
    assert "send_at" in response.context["form"].errors
    response = sender.post(
        url("schedule", campaign), {"mode": "spread", "spread_hours": "99", "confirm": "yes"}
    )
    assert "spread_hours" in response.context["form"].errors
    assert not CampaignSend.objects.exists()


def test_schedule_at_a_local_time_warns_about_zones_already_past_it(
    client_for: Callable[..., Client], campaign: Campaign, people: dict[str, Contact]
) -> None:
    # On this date, noon has already come on Kiritimati (UTC+14) and not yet on
    # Pago Pago (UTC-11), whatever the time of day the test runs.
    day = (timezone.now() + dt.timedelta(hours=1)).astimezone(dt.UTC).date()
    Contact.objects.filter(pk=people["vera"].pk).update(time_zone="Pacific/Kiritimati")
    Contact.objects.filter(pk=people["nadia"].pk).update(time_zone="Pacific/Pago_Pago")
    sender = client_for("sam", *SENDER_PERMS)
    data = {"mode": "local", "local_date": day.isoformat(), "local_time": "12:00"}
    confirm = sender.post(url("schedule", campaign), data)
    assert confirm.context["confirming"]
    assert confirm.context["late_copies"] == 1
    assert 'data-oneonone-late="1"' in confirm.content.decode()

    sender.post(url("schedule", campaign), {**data, "confirm": "yes"})
    send = CampaignSend.objects.get()
    assert send.mode == SendMode.LOCAL
    assert (send.local_date, send.local_time) == (day, dt.time(12, 0))
    # Queueing starts ahead of the first zone to reach noon (UTC+14).
    first = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC) - dt.timedelta(hours=14)
    assert send.queue_from == first - QUEUE_AHEAD


def test_schedule_spread_over_hours(client_for: Callable[..., Client], campaign: Campaign) -> None:
    sender = client_for("sam", *SENDER_PERMS)
    start = (timezone.now() + dt.timedelta(days=1)).replace(second=0, microsecond=0)
    data = {"mode": "spread", "spread_start": local_input(start), "spread_hours": "6"}
    sender.post(url("schedule", campaign), {**data, "confirm": "yes"})
    send = CampaignSend.objects.get()
    assert (send.mode, send.send_at, send.spread_hours) == (SendMode.SPREAD, start, 6)


# Cancelling and the campaign page ----------------------------------------------------------


def test_cancel_a_scheduled_send(client_for: Callable[..., Client], campaign: Campaign) -> None:
    schedule_campaign(
        campaign, Schedule(mode=SendMode.AT, send_at=timezone.now() + dt.timedelta(days=1))
    )
    editor = client_for("eddie", *EDITOR_PERMS)
    assert refused(editor.post(url("cancel", campaign)))
    assert url("cancel", campaign) not in editor.get(url("report", campaign)).content.decode()

    sender = client_for("sam", *SENDER_PERMS)
    page = sender.get(url("report", campaign))
    assert url("cancel", campaign) in page.content.decode()
    confirm = sender.get(url("cancel", campaign))
    assert "cannot be restarted" in confirm.content.decode()
    assert CampaignSend.objects.get().status == CampaignStatus.SCHEDULED

    response = sender.post(url("cancel", campaign))
    assert response["Location"] == url("report", campaign)
    send = CampaignSend.objects.get()
    assert send.status == CampaignStatus.CANCELLED
    assert send.cancelled_by is not None and send.cancelled_by.username == "sam"
    assert ModelLogEntry.objects.filter(action="wagtail_oneonone.cancel_campaign").exists()
    again = sender.post(url("cancel", campaign))
    assert any("Only a scheduled or sending" in text for text in message_texts(again))


def test_campaign_page_reports_outcomes_and_progress(
    admin_client: Client, campaign: Campaign, people: dict[str, Contact], settings: Any
) -> None:
    settings.WAGTAIL_ONEONONE = {
        "MERGE_ON_LOGIN": False,
        "BASE_URL": "https://shop.example",
        "QUIET_HOURS": None,
    }
    late = subscribed("late@example.com", first_name="Late")
    nobody = Contact.objects.create(email="nobody@example.com")  # no consent: skipped
    schedule_campaign(campaign, Schedule(mode=SendMode.NOW, send_at=timezone.now()))
    assert queue_campaign(campaign.pk) == 4
    OutboxMessage.objects.filter(contact=late).update(
        status=OutboxStatus.FAILED, last_error="550 mailbox unavailable\nat the far end"
    )
    result = dispatch_due()
    assert result.sent == 2

    response = admin_client.get(url("report", campaign))
    assert response.status_code == 200
    content = response.content.decode()
    counts = {key: count for key, _label, count in response.context["counts"]}
    assert counts == {
        "queued": 0,
        "sending": 0,
        "sent": 2,
        "skipped": 1,
        "failed": 1,
        "unknown": 0,
    }
    skipped = response.context["skipped"]
    assert len(skipped) == 1 and skipped[0][1] == 1
    assert response.context["failed"] == [("550 mailbox unavailable", 1)]
    assert "data-oneonone-sent-chart" in content
    assert response.context["over_time"].total == 2
    messages_url = (
        reverse("oneonone_message:index") + f"?source_type=campaign&amp;source_id={campaign.pk}"
    )
    assert messages_url in content
    listed = admin_client.get(
        reverse("oneonone_message:index"),
        {"source_type": "campaign", "source_id": str(campaign.pk)},
    )
    assert len(listed.context["object_list"]) == 4
    assert nobody.messages.count() == 1

    progress = admin_client.get(url("progress", campaign)).json()
    assert progress["status"] == CampaignStatus.SENDING
    assert progress["counts"] == {"sent": 2, "skipped": 1, "failed": 1}
    assert progress["done"] == 4 and progress["audience_size"] == 4
    assert progress["queueing"] is False


def test_campaign_page_of_a_draft_and_a_cancelled_send(
    admin_client: Client, campaign: Campaign
) -> None:
    page = admin_client.get(url("report", campaign))
    assert "has not been scheduled yet" in page.content.decode()
    assert admin_client.get(url("progress", campaign)).status_code == 404
    schedule_campaign(campaign, Schedule(mode=SendMode.NOW, send_at=timezone.now()))
    queue_campaign(campaign.pk)
    from wagtail_oneonone.campaigns.services import cancel_campaign

    cancel_campaign(campaign)
    page = admin_client.get(url("report", campaign))
    assert page.context["status"] == CampaignStatus.CANCELLED
    assert page.context["skipped"] == [(CANCELLED_REASON, 2)]
    assert "data-progress-url" not in page.content.decode()


def test_live_audience_size_for_the_editor(
    client_for: Callable[..., Client], segments: dict[str, Segment], people: dict[str, Contact]
) -> None:
    editor = client_for("eddie", *EDITOR_PERMS)
    counted = editor.post(
        url("audience_size"),
        {"audience": [segments["everyone"].pk], "exclusions": [segments["lapsed"].pk]},
    ).json()
    assert counted == {"count": 2, "message": ""}
    assert editor.post(url("audience_size"), {}).json()["count"] is None
    outsider = client_for("olga", "wagtail_oneonone.view_contact")
    ajax = {"x-requested-with": "XMLHttpRequest"}
    assert outsider.post(url("audience_size"), {}, headers=ajax).status_code == 403


# Workflow ----------------------------------------------------------------------------------


def test_with_a_workflow_a_campaign_waits_for_approval_before_it_can_be_sent(
    client_for: Callable[..., Client],
    make_user: Callable[..., Any],
    segments: dict[str, Segment],
    people: dict[str, Contact],
    email_layout: EmailLayout,
) -> None:
    moderators = Group.objects.create(name="Campaign moderators")
    workflow = Workflow.objects.create(name="Campaign sign-off")
    task = GroupApprovalTask.objects.create(name="Marketing lead approves")
    task.groups.set([moderators])
    WorkflowTask.objects.create(workflow=workflow, task=task, sort_order=0)
    WorkflowContentType.objects.create(
        workflow=workflow, content_type=ContentType.objects.get_for_model(Campaign)
    )

    editor = client_for("eddie", *EDITOR_PERMS)
    form = editor.get(url("add")).content.decode()
    assert 'name="action-submit"' in form
    assert 'name="action-publish"' not in form
    response = editor.post(
        url("add"), campaign_form_data(segments, **{"action-submit": "action-submit"})
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.workflow_in_progress
    assert not campaign.live

    moderator = make_user("mia", *SENDER_PERMS)
    moderator.groups.add(moderators)
    mia = Client()
    mia.force_login(moderator)
    refused = mia.post(url("schedule", campaign), {"mode": "now", "confirm": "yes"})
    assert "Publish the campaign first" in refused.content.decode()
    assert not CampaignSend.objects.exists()

    task_state = campaign.current_workflow_task_state
    approve = reverse(
        "oneonone_campaign:workflow_action", args=[campaign.pk, "approve", task_state.pk]
    )
    assert mia.post(approve, {"comment": "Lovely"}).status_code in (200, 302)
    campaign.refresh_from_db()
    assert campaign.live and not campaign.workflow_in_progress

    response = mia.post(url("schedule", campaign), {"mode": "now", "confirm": "yes"})
    assert response.status_code == 302
    assert CampaignSend.objects.get().revision == campaign.live_revision


def test_the_live_preview_shows_editors_without_contact_access_an_invented_contact(
    client_for: Callable[..., Client],
    admin_client: Client,
    campaign: Campaign,
    segments: dict[str, Segment],
    people: dict[str, Contact],
) -> None:
    # An admin chose Vera on the preview page; the session is the admin's, not the writer's.
    admin_client.get(url("preview_as", campaign), {"contact": "vera@example.com"})
    writer = client_for("writer", "wagtail_oneonone.change_campaign")
    live_url = reverse("oneonone_campaign:preview_on_edit", args=[campaign.pk])
    assert writer.post(live_url, campaign_form_data(segments)).json()["is_valid"]
    live = writer.get(live_url).content.decode()
    assert "Jane" in live
    for person in people.values():
        assert person.email not in live
        assert not person.first_name or person.first_name not in live
