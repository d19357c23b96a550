"""Flows in the admin: the editor's form (the StreamField posted as the browser sends it)
and its validation, the listing's trigger in words, built-in flows, the flow page after a
real flow ran (events, enrollment, waits, sends, a goal), pause and resume, permissions,
and the flow lines of a contact's timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry
from wagtail.test.utils.form_data import nested_form_data, rich_text, streamfield

from tests.campaigns import conftest as campaigns_conftest
from tests.campaigns.conftest import attribute_is, segment
from tests.flows.conftest import (
    abandon_cart,
    cart_flow,
    hours,
    make_flow,
    run,
    send,
    step,
    text,
    wait,
)
from tests.sending import conftest as sending_conftest
from tests.sending.conftest import subscribed
from wagtail_oneonone.api import track
from wagtail_oneonone.blocks import RICH_TEXT_FEATURES
from wagtail_oneonone.flows.blocks import FlowStepsBlock
from wagtail_oneonone.flows.builtin import BUILTIN_FLOWS
from wagtail_oneonone.flows.services import advance_due
from wagtail_oneonone.models import (
    Contact,
    Enrollment,
    EnrollmentStatus,
    Flow,
    FlowStatus,
    OutboxMessage,
    Reentry,
    TriggerType,
)

pytestmark = pytest.mark.django_db

# Fixtures from other folders' conftests, used here too.
email_layout = campaigns_conftest.email_layout
sending_settings = sending_conftest.sending_settings
anymail_backend = sending_conftest.anymail_backend

FLOW_PERMS = (
    "wagtail_oneonone.add_flow",
    "wagtail_oneonone.change_flow",
    "wagtail_oneonone.delete_flow",
    "wagtail_oneonone.view_flow",
)
ITEMS = [{"product_id": "scarf", "name": "Wool scarf", "quantity": 1, "price": 25}]


def url(name: str, flow: Flow | None = None) -> str:
    return reverse(f"oneonone_flow:{name}", args=[flow.pk] if flow else [])


def refused(response: Any) -> bool:
    """Wagtail answers a denied admin page with a redirect home and a message."""
    return response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")


def message_texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def steps_form_data() -> dict[str, Any]:
    """A two-hour wait, then an email: as the StreamField's JS posts them."""
    return streamfield(
        [
            ("wait", {"amount": "2", "unit": "hours", "until": ""}),
            (
                "send_email",
                {
                    "subject": "{{ contact.first_name|default('Hi', true) }}, your basket",
                    "preheader": "",
                    "body": streamfield(
                        [
                            (
                                "rich_text",
                                rich_text(
                                    "<p>You left something behind.</p>",
                                    features=RICH_TEXT_FEATURES,
                                ),
                            )
                        ]
                    ),
                },
            ),
        ]
    )


def flow_form_data(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Cart reminder",
        "description": "",
        "status": FlowStatus.ACTIVE,
        "trigger_type": TriggerType.EVENT,
        "trigger_event_type": "cart_updated",
        "trigger_filters": "",
        "trigger_count": "1",
        "trigger_window_hours": "",
        "trigger_segment": "",
        "trigger_date_field": "",
        "trigger_attribute": "",
        "trigger_time": "",
        "trigger_days_before": "0",
        "trigger_engagement": "",
        "entry_segment": "",
        "reentry": Reentry.ONCE,
        "reentry_days": "",
        "goal_event_type": "order_placed",
        "goal_filters": "",
        "goal_left_segment": "",
        "kind": "marketing",
        "topic": "",
        "from_email": "Oak & Thread <shop@shop.example>",
        "reply_to": "Jo Maker <jo@shop.example>",
        "layout": "",
        "steps": steps_form_data(),
    }
    values.update(overrides)
    return nested_form_data(values)


def form_errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, response
    return {
        name: [str(e) for e in errors] for name, errors in response.context["form"].errors.items()
    }


# The editor ---------------------------------------------------------------------------------


def test_flows_are_in_the_apps_menu_with_their_own_urls(admin_client: Client) -> None:
    assert url("index") == "/admin/oneonone_flow/"
    content = admin_client.get(reverse("wagtailadmin_home")).content.decode()
    assert "Flows" in content and url("index") in content
    form_page = admin_client.get(url("add")).content.decode()
    for tab in ("Trigger", "Who and when", "Email", "Steps"):
        assert tab in form_page
    assert "flow-editor.js" in form_page
    assert "When the trigger is a date" in form_page  # every group is there without JS


def test_create_a_flow_through_the_form(admin_client: Client) -> None:
    response = admin_client.post(
        url("add"),
        flow_form_data(
            trigger_filters=(
                '[{"property": "cart_total", "type": "number", "operator": "gte", "value": 50}]'
            )
        ),
    )
    assert response.status_code == 302, form_errors(response)
    flow = Flow.objects.get()
    assert (flow.status, flow.trigger_type, flow.trigger_event_type) == (
        FlowStatus.ACTIVE,
        TriggerType.EVENT,
        "cart_updated",
    )
    assert flow.trigger_filters == [
        {"property": "cart_total", "type": "number", "operator": "gte", "value": 50}
    ]
    assert flow.goal_event_type == "order_placed"
    assert [child.block_type for child in flow.steps] == ["wait", "send_email"]
    assert flow.steps[0].value["amount"] == 2
    assert "your basket" in flow.steps[1].value["subject"]
    assert all(child.id for child in flow.steps)  # ids: enrollments find their step by it
    assert ModelLogEntry.objects.filter(action="wagtail.create", object_id=str(flow.pk)).exists()


def test_fields_of_the_triggers_not_chosen_are_cleared(admin_client: Client) -> None:
    vips = segment("VIPs", attribute_is("tier", "vip"))
    data = flow_form_data(
        trigger_type=TriggerType.SEGMENT_ENTERED,
        trigger_segment=str(vips.pk),
        trigger_event_type="cart_updated",  # left over from the event trigger
        trigger_count="3",
        reentry=Reentry.ONCE,
        reentry_days="12",
    )
    assert admin_client.post(url("add"), data).status_code == 302
    flow = Flow.objects.get()
    assert flow.trigger_segment == vips
    assert (flow.trigger_event_type, flow.trigger_count, flow.reentry_days) == ("", 1, None)


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"trigger_event_type": "cart_abandoned"}, "trigger_event_type", "unknown event type"),
        ({"trigger_event_type": ""}, "trigger_event_type", "Choose the event"),
        ({"goal_event_type": "bought"}, "goal_event_type", "unknown event type 'bought'"),
        (
            {"trigger_filters": '[{"property": "category", "operator": "is", "value": "x"}]'},
            "trigger_filters",
            "Filter 1, operator: 'is' is not an operator for text",
        ),
        ({"trigger_filters": '{"property": "category"'}, "trigger_filters", "Enter a valid JSON"),
        (
            {
                "goal_event_type": "",
                "goal_filters": '[{"property": "total", "operator": "is_set"}]',
            },
            "goal_filters",
            "Filters need an event",
        ),
        (
            {"trigger_type": TriggerType.SEGMENT_ENTERED},
            "trigger_segment",
            "Choose the segment",
        ),
        (
            {"trigger_type": TriggerType.DATE, "trigger_date_field": "birthday"},
            "trigger_time",
            "time of day",
        ),
        (
            {
                "trigger_type": TriggerType.DATE,
                "trigger_date_field": "attribute",
                "trigger_time": "10:00",
            },
            "trigger_attribute",
            "Name the custom attribute",
        ),
        ({"trigger_type": TriggerType.ENGAGEMENT}, "trigger_engagement", "Choose the change"),
        ({"reentry": Reentry.EVERY_N_DAYS}, "reentry_days", "Say how many days (1 to 365)"),
        ({"reentry": Reentry.EVERY_N_DAYS, "reentry_days": "400"}, "reentry_days", "Between 1"),
        ({"reply_to": "not an address"}, "reply_to", "Enter an address"),
        ({"from_email": "Shop <shop@>"}, "from_email", "Enter an address"),
        ({"steps": streamfield([])}, "steps", "Add at least one step"),
        (
            {"steps": streamfield([("wait", {"amount": "1", "unit": "days", "until": ""})])},
            "steps",
            "An active flow needs at least one step that sends an email or notifies someone",
        ),
    ],
)
def test_the_form_refuses_what_the_worker_could_not_run(
    admin_client: Client, overrides: dict[str, Any], field: str, words: str
) -> None:
    errors = form_errors(admin_client.post(url("add"), flow_form_data(**overrides)))
    assert field in errors, errors
    assert any(words in message for message in errors[field]), errors[field]
    assert not Flow.objects.exists()


def test_a_draft_may_be_saved_without_a_sending_step(admin_client: Client) -> None:
    only_wait = streamfield([("wait", {"amount": "1", "unit": "days", "until": ""})])
    data = flow_form_data(status=FlowStatus.DRAFT, steps=only_wait)
    assert admin_client.post(url("add"), data).status_code == 302
    assert Flow.objects.get().status == FlowStatus.DRAFT


def test_a_sending_step_inside_a_branch_counts(admin_client: Client) -> None:
    branch = streamfield(
        [
            (
                "branch",
                {
                    "label": "Ordered?",
                    "condition": streamfield(
                        [("event_since_entry", {"event_type": "order_placed"})]
                    ),
                    "yes": streamfield([]),
                    "no": streamfield(
                        [("notify", {"to": "jo@shop.example", "message": "Call them"})]
                    ),
                },
            )
        ]
    )
    response = admin_client.post(url("add"), flow_form_data(steps=branch))
    assert response.status_code == 302, form_errors(response)


def test_the_listing_says_each_trigger_in_words(admin_client: Client, email_layout: Any) -> None:
    vips = segment("VIP customers", attribute_is("tier", "vip"))
    cart_flow()
    make_flow(
        "Birthday",
        [send("s", "Happy birthday", text("<p>Hi</p>"))],
        trigger_type=TriggerType.DATE,
        trigger_date_field="birthday",
        trigger_time=dt.time(10, 0),
    )
    make_flow(
        "Welcome VIPs",
        [send("s", "Welcome", text("<p>Hi</p>"))],
        trigger_type=TriggerType.SEGMENT_ENTERED,
        trigger_segment=vips,
        status=FlowStatus.PAUSED,
    )
    make_flow(
        "Win back",
        [send("s", "We miss you", text("<p>Hi</p>"))],
        trigger_type=TriggerType.ENGAGEMENT,
        trigger_engagement="became_dormant",
        status=FlowStatus.DRAFT,
    )
    response = admin_client.get(url("index"))
    content = response.content.decode()
    for words in (
        "When someone updates their cart",
        "On their birthday at 10:00",
        "When someone enters VIP customers",
        "When someone becomes dormant",
        "In the flow now",
        "Reached the goal",
    ):
        assert words in content, words
    assert url("inspect", Flow.objects.get(name="Birthday")) in content
    found = admin_client.get(url("index"), {"q": "birth"}).context["object_list"]
    assert [flow.name for flow in found] == ["Birthday"]


# Built-in flows ----------------------------------------------------------------------------


def test_install_a_built_in_flow_in_one_click(admin_client: Client) -> None:
    page = admin_client.get(url("builtins"))
    assert page.status_code == 200
    content = page.content.decode()
    for builtin in BUILTIN_FLOWS:
        assert builtin.name in content
    assert url("builtins") in admin_client.get(url("index")).content.decode()

    builtin = next(b for b in BUILTIN_FLOWS if b.key == "cart_abandonment")
    response = admin_client.post(url("install"), {"key": builtin.key})
    flow = Flow.objects.get(builtin=builtin.key)
    assert response.status_code == 302 and response["Location"] == url("edit", flow)
    assert flow.status == FlowStatus.DRAFT and flow.name == builtin.name
    assert any("installed as a draft" in text for text in message_texts(response))
    assert ModelLogEntry.objects.filter(
        action="wagtail_oneonone.install_flow", object_id=str(flow.pk)
    ).exists()

    # Editable: its editor opens, and saving it as it is works.
    editor = admin_client.get(url("edit", flow))
    assert editor.status_code == 200
    listing = admin_client.get(url("builtins")).content.decode()
    assert url("edit", flow) in listing and "Install another copy" in listing

    # Installed again: a second copy under a numbered name.
    admin_client.post(url("install"), {"key": builtin.key})
    assert sorted(Flow.objects.filter(builtin=builtin.key).values_list("name", flat=True)) == [
        builtin.name,
        f"{builtin.name} (2)",
    ]


def test_a_built_in_flows_notes_go_to_whoever_installed_it(admin_client: Client) -> None:
    admin_client.post(url("install"), {"key": "vip_reward"})
    flow = Flow.objects.get(builtin="vip_reward")
    notes = [step.value["to"] for step in flow.steps if step.block_type == "notify"]
    assert notes == ["admin@example.com"]  # pytest-django's admin user


def test_installing_an_unknown_built_in_says_so(admin_client: Client) -> None:
    response = admin_client.post(url("install"), {"key": "nope"})
    assert response.status_code == 302 and response["Location"] == url("builtins")
    assert any("could not be installed" in text for text in message_texts(response))
    assert not Flow.objects.exists()
    assert admin_client.get(url("install")).status_code == 405


# The flow page -----------------------------------------------------------------------------


def cart(email: str, at: dt.datetime) -> None:
    subscribed(email, first_name=email.split("@")[0].title())
    abandon_cart(email, at, ITEMS)


@pytest.fixture
def ran_cart_flow(email_layout: Any, sending_settings: Any, anymail_backend: Any) -> Flow:
    """The cart flow (2 h, reminder, 22 h, incentive; goal: an order) after four shoppers:
    Sam ordered after the reminder (goal), Ana got both emails (completed), Bo waits for the
    incentive, Lou has just entered."""
    flow = cart_flow()
    start = timezone.now() - hours(30)
    cart("sam@example.com", start)
    cart("ana@example.com", start)
    run(start + dt.timedelta(minutes=1))
    run(start + hours(2))
    track(
        "order_placed",
        email="sam@example.com",
        occurred_at=start + hours(3),
        value=25,
        properties={"order_id": "1", "items": ITEMS, "total": 25},
    )
    cart("bo@example.com", start + hours(23))
    run(start + hours(23))
    run(start + hours(24))
    cart("lou@example.com", start + hours(25))
    run(start + hours(25))
    return flow


def test_the_flow_page_counts_each_step_and_what_it_sent(
    admin_client: Client, ran_cart_flow: Flow
) -> None:
    flow = ran_cart_flow
    statuses = dict(Enrollment.objects.values_list("contact__email", "status"))
    assert statuses == {
        "sam@example.com": EnrollmentStatus.GOAL,
        "ana@example.com": EnrollmentStatus.COMPLETED,
        "bo@example.com": EnrollmentStatus.ACTIVE,
        "lou@example.com": EnrollmentStatus.ACTIVE,
    }
    response = admin_client.get(url("inspect", flow))
    assert response.status_code == 200
    context = response.context
    rows = {row.step_id: row for row in context["steps"].rows}
    assert [row.step_id for row in context["steps"].rows] == [
        "w2h",
        "reminder",
        "w24h",
        "incentive",
    ]
    assert (rows["w2h"].active, rows["w24h"].active) == (1, 1)  # Lou waits 2 h, Bo 22 h
    assert rows["reminder"].sent == {
        "sent": 3,
        "queued": 0,
        "skipped": 0,
        "failed": 0,
        "unknown": 0,
    }
    assert rows["incentive"].sent["sent"] == 1  # Ana's; Sam's was never queued
    totals = context["totals"]
    assert (totals.entered, totals.active, totals.completed, totals.goal, totals.exited) == (
        4,
        2,
        1,
        1,
        0,
    )
    content = response.content.decode()
    assert "When someone updates their cart" in content
    assert rows["w2h"].summary == "2 hours" and rows["w24h"].summary == "22 hours"
    assert "Reached when they placed an order after entering" in content
    assert "Once ever" not in content and "Every time it is triggered" in content
    messages_link = (
        "/admin/oneonone_message/?source_type=flow&amp;source_id=" + f"{flow.pk}%3Areminder"
    )
    assert messages_link in content
    listed = admin_client.get(
        "/admin/oneonone_message/", {"source_type": "flow", "source_id": f"{flow.pk}:reminder"}
    )
    assert len(listed.context["object_list"]) == 3
    assert "data-oneonone-flow-chart" in content
    # Newest first; Sam and Ana entered together, Ana second.
    latest = [(row["contact"], row["status"], row["step"]) for row in context["latest"]]
    assert latest == [
        ("lou@example.com", "In the flow", "Step 1: Wait"),
        ("bo@example.com", "In the flow", "Step 3: Wait"),
        ("ana@example.com", "Completed", "Step 4: Send an email"),
        ("sam@example.com", "Reached the goal", "Step 3: Wait"),  # where the goal found him
    ]
    assert (
        reverse("oneonone_contact:inspect", args=[Contact.objects.get(email="lou@example.com").pk])
        in content
    )


def test_the_editor_warns_that_contacts_are_in_the_flow(
    admin_client: Client, ran_cart_flow: Flow
) -> None:
    content = admin_client.get(url("edit", ran_cart_flow)).content.decode()
    assert "2 contacts are in this flow now" in content
    assert "anyone at a step you remove leaves the flow" in content
    assert url("inspect", ran_cart_flow) in content  # the "Flow page" button


def test_the_flow_page_groups_exits_by_reason(admin_client: Client, ran_cart_flow: Flow) -> None:
    flow = ran_cart_flow
    bo = Enrollment.objects.get(contact__email="bo@example.com")
    # The step Bo waits at is removed: he leaves, saying why.
    kept = [dict(block) for block in flow.steps.raw_data if block["id"] != "w24h"]
    flow.steps = FlowStepsBlock().to_python(kept)
    flow.save()
    advance_due(now=timezone.now() + hours(30))
    bo.refresh_from_db()
    assert bo.status == EnrollmentStatus.EXITED
    content = admin_client.get(url("inspect", flow)).content.decode()
    assert "the step it was at was removed from the flow" in content
    exits = admin_client.get(url("inspect", flow)).context["exits"]
    assert exits == [("the step it was at was removed from the flow", 1)]


def test_pause_and_resume_from_the_flow_page(
    client_for: Callable[..., Client], ran_cart_flow: Flow
) -> None:
    flow = ran_cart_flow
    editor = client_for("eddie", "wagtail_oneonone.view_flow", "wagtail_oneonone.change_flow")
    page = editor.get(url("inspect", flow)).content.decode()
    assert url("pause", flow) in page and url("resume", flow) not in page

    response = editor.post(url("pause", flow))
    assert response.status_code == 302 and response["Location"] == url("inspect", flow)
    flow.refresh_from_db()
    assert flow.status == FlowStatus.PAUSED
    assert any("is paused" in text for text in message_texts(response))
    # Paused: the enrollments stay where they are.
    advance_due(now=timezone.now() + hours(100))
    assert Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE).count() == 2

    again = editor.post(url("pause", flow))
    assert any("was not paused" in text for text in message_texts(again))
    page = editor.get(url("inspect", flow)).content.decode()
    assert url("resume", flow) in page and url("pause", flow) not in page

    editor.post(url("resume", flow))
    flow.refresh_from_db()
    assert flow.status == FlowStatus.ACTIVE
    actions = list(
        ModelLogEntry.objects.filter(object_id=str(flow.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["wagtail_oneonone.pause_flow", "wagtail_oneonone.resume_flow"]
    history = editor.get(url("history", flow)).content.decode()
    assert "Flow paused" in history and "Flow resumed" in history
    assert editor.get(url("pause", flow)).status_code == 405


# Permissions -------------------------------------------------------------------------------


def test_a_user_without_flow_permissions_is_refused_everywhere(
    make_user: Callable[..., Any], email_layout: Any
) -> None:
    flow = cart_flow()
    user = make_user("editor", "wagtail_oneonone.view_contact")
    user.groups.add(Group.objects.get(name="Editors"))
    client = Client()
    client.force_login(user)
    assert "oneonone_flow" not in client.get(reverse("wagtailadmin_home")).content.decode()
    for name in ("index", "add", "builtins"):
        assert refused(client.get(url(name))), name
    for name in ("edit", "inspect", "history", "delete"):
        assert refused(client.get(url(name, flow))), name
    for name in ("pause", "resume"):
        assert refused(client.post(url(name, flow))), name
    assert refused(client.post(url("install"), {"key": BUILTIN_FLOWS[0].key}))
    assert Flow.objects.get().status == FlowStatus.ACTIVE and Flow.objects.count() == 1


def test_a_viewer_sees_the_flow_page_but_cannot_pause_edit_or_install(
    client_for: Callable[..., Client], ran_cart_flow: Flow
) -> None:
    flow = ran_cart_flow
    viewer = client_for("vic", "wagtail_oneonone.view_flow")
    assert viewer.get(url("index")).status_code == 200
    page = viewer.get(url("inspect", flow))
    assert page.status_code == 200
    content = page.content.decode()
    assert url("pause", flow) not in content and url("edit", flow) not in content
    # No contact permissions: the latest entries name no one.
    assert "sam@example.com" not in content and "Contact #" in content
    assert "/admin/oneonone_message/" not in content  # nor may they see messages
    assert refused(viewer.post(url("pause", flow)))
    assert refused(viewer.get(url("edit", flow)))
    assert refused(viewer.get(url("builtins")))
    assert refused(viewer.post(url("install"), {"key": BUILTIN_FLOWS[0].key}))
    flow.refresh_from_db()
    assert flow.status == FlowStatus.ACTIVE


def test_flow_permissions_appear_in_the_group_editor(admin_client: Client) -> None:
    group = Group.objects.create(name="Marketers")
    edit = reverse("wagtailusers_groups:edit", args=[group.pk])
    content = admin_client.get(edit).content.decode()
    for codename in ("add_flow", "change_flow", "delete_flow", "view_flow"):
        permission = Permission.objects.get(
            content_type__app_label="wagtail_oneonone", codename=codename
        )
        assert f'value="{permission.pk}"' in content, codename


# The contact timeline ----------------------------------------------------------------------


def test_the_contact_timeline_shows_entries_steps_sends_and_the_goal(
    admin_client: Client, ran_cart_flow: Flow
) -> None:
    sam = Contact.objects.get(email="sam@example.com")
    response = admin_client.get(reverse("oneonone_contact:inspect", args=[sam.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Entered the flow" in content and "Cart abandonment" in content
    assert "Reached the goal" in content
    assert "Sam, your basket is waiting" in content  # the email the flow sent, as sent
    timeline = response.context["timeline"]
    kinds = [getattr(entry, "action", "event") for entry in timeline]
    assert kinds[0] == "goal"  # newest first
    assert "entered" in kinds and "sent" in kinds
    times = [entry.at for entry in timeline]
    assert times == sorted(times, reverse=True)
    assert "order_placed" in content and "cart_updated" in content  # the events too


def test_the_timeline_reads_flow_lines_in_a_fixed_number_of_queries(
    admin_client: Client, ran_cart_flow: Flow, email_layout: Any
) -> None:
    sam = Contact.objects.get(email="sam@example.com")
    page = reverse("oneonone_contact:inspect", args=[sam.pk])
    with CaptureQueriesContext(connection) as few:
        admin_client.get(page)
    other = make_flow(
        "Second flow",
        [wait("w", 1), send("s", "Hello again", text("<p>Hi</p>")), step("end", "e", None)],
        trigger_event_type="order_placed",
    )
    now = timezone.now()
    track(
        "order_placed",
        contact=sam,
        occurred_at=now,
        properties={"order_id": "2", "items": ITEMS, "total": 25},
    )
    run(now + dt.timedelta(minutes=1))
    run(now + hours(2))
    assert Enrollment.objects.filter(flow=other, contact=sam).exists()
    with CaptureQueriesContext(connection) as more:
        admin_client.get(page)
    assert len(more.captured_queries) == len(few.captured_queries)
    assert "Second flow" in admin_client.get(page).content.decode()
    assert OutboxMessage.objects.filter(source_type="flow").count() >= 3


def test_a_layout_a_flow_uses_is_not_deleted_under_it(
    admin_client: Client, email_layout: Any, django_capture_on_commit_callbacks: Any
) -> None:
    flow = cart_flow()
    flow.layout = email_layout
    with django_capture_on_commit_callbacks(execute=True):  # Wagtail 7 indexes on commit
        flow.save()
    delete = reverse("oneonone_email_layout:delete", args=[email_layout.pk])
    page = admin_client.get(delete)
    assert page.status_code == 200
    assert page.context["is_protected"]
    usage = admin_client.get(reverse("oneonone_email_layout:usage", args=[email_layout.pk]))
    assert "Cart abandonment" in usage.content.decode()


def test_the_flow_page_indents_branch_sides(admin_client: Client, email_layout: Any) -> None:
    vips = segment("VIPs", attribute_is("tier", "vip"))
    flow = make_flow(
        "After an order",
        [
            wait("w", 24),
            step(
                "branch",
                "vip?",
                {
                    "label": "VIP?",
                    "condition": [{"type": "segment", "value": str(vips.pk)}],
                    "yes": [
                        step("notify", "call", {"to": "jo@shop.example", "message": "Call them"})
                    ],
                    "no": [],
                },
            ),
            step("update_contact", "tag", {"action": "add_tag", "name": "thanked", "value": ""}),
        ],
        trigger_event_type="order_placed",
    )
    rows = admin_client.get(url("inspect", flow)).context["steps"].rows
    outline = [(row.number, row.depth, row.side, row.kind, row.summary) for row in rows]
    assert outline == [
        (1, 0, "", "wait", "1 day"),
        (2, 0, "", "branch", "VIP?: yes if in VIPs"),
        (3, 1, "yes", "notify", "tell jo@shop.example"),
        (0, 1, "no", "", "nothing: straight on after the branch"),
        (4, 0, "", "update_contact", "add the tag thanked"),
    ]
    assert rows[2].source_type == "flow_notify" and rows[2].sent["sent"] == 0


def test_each_flow_line_shows_on_one_page_of_the_timeline(
    admin_client: Client, email_layout: Any
) -> None:
    from wagtail_oneonone.models import EnrollmentLog, Event

    flow = cart_flow()
    ada = Contact.objects.create(email="ada@example.com")
    now = timezone.now()
    # 30 events an hour apart (the newest now): page 1 holds the newest 25.
    for n in range(30):
        Event.objects.create(contact=ada, type="page_viewed", occurred_at=now - hours(n))
    enrollment = Enrollment.objects.create(
        flow=flow, contact=ada, key="k", entered_at=now - hours(40)
    )
    for n in (0.5, 24, 24.5, 27.5, 35):  # 24: the oldest event on page 1, at the boundary
        EnrollmentLog.objects.create(
            enrollment=enrollment, at=now - hours(n), action="step", step_id="w2h"
        )
    page_url = reverse("oneonone_contact:inspect", args=[ada.pk])

    def flow_lines(page: int) -> list[float]:
        timeline = admin_client.get(page_url, {"events": page}).context["timeline"]
        return [
            round((now - entry.at) / hours(1), 1) for entry in timeline if entry.kind == "flow"
        ]

    assert flow_lines(1) == [0.5, 24]
    assert flow_lines(2) == [24.5, 27.5, 35]
