"""Sent messages in the admin: the outbox listing, a message's page, read-only access."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from wagtail_oneonone.models import Contact, OutboxMessage, OutboxStatus, SentContent

pytestmark = pytest.mark.django_db

INDEX = "oneonone_message:index"
INSPECT = "oneonone_message:inspect"
_keys = itertools.count()


def make_message(contact: Contact, **fields: Any) -> OutboxMessage:
    fields.setdefault("source_type", "template")
    fields.setdefault("source_id", "1")
    fields.setdefault("kind", "marketing")
    fields.setdefault("scheduled_at", timezone.now())
    return OutboxMessage.objects.create(
        contact=contact, idempotency_key=f"test:{next(_keys)}", **fields
    )


def listed(response: Any) -> list[OutboxMessage]:
    return [row.instance for row in response.context["table"].rows]


@pytest.fixture
def bob(db: None) -> Contact:
    return Contact.objects.create(email="bob@example.org", first_name="Bob")


@pytest.fixture
def outbox(contact: Contact, bob: Contact) -> dict[str, OutboxMessage]:
    now = timezone.now()
    sent = make_message(
        contact,
        status=OutboxStatus.SENT,
        subject="Hi Ada",
        sent_at=now - dt.timedelta(days=3),
        attempts=1,
        esp_message_id="esp-1",
        message_id_header="<1.abc@shop.example>",
    )
    SentContent.objects.create(
        message=sent,
        html='<html><body><p title="x">Hello "Ada" &amp; <b>friends</b></p></body></html>',
        text="Hello Ada & friends",
        headers={
            "Subject": "Hi Ada",
            "From": "Oak & Thread <shop@shop.example>",
            "To": "Ada Lovelace <ada@example.com>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    skipped = make_message(
        bob, status=OutboxStatus.SKIPPED, skip_reason="no marketing consent", source_id="2"
    )
    failed = make_message(
        contact,
        status=OutboxStatus.FAILED,
        kind="transactional",
        source_type="test",
        last_error="SMTP 550: mailbox unavailable",
        attempts=3,
        subject="[Test] Hi Ada",
    )
    queued = make_message(bob, scheduled_at=now + dt.timedelta(hours=2), source_id="3")
    return {"sent": sent, "skipped": skipped, "failed": failed, "queued": queued}


# Listing ----------------------------------------------------------------------------------


def test_listing_shows_every_message_newest_first(
    admin_client: Client, outbox: dict[str, OutboxMessage]
) -> None:
    response = admin_client.get(reverse(INDEX))
    assert response.status_code == 200
    assert listed(response) == [
        outbox["queued"],
        outbox["failed"],
        outbox["skipped"],
        outbox["sent"],
    ]
    content = response.content.decode()
    for heading in ("Contact", "Subject", "Source", "Kind", "Status", "Scheduled", "Sent at"):
        assert heading in content
    assert "template:1" in content
    assert "Attempts" in content
    assert reverse(INSPECT, args=[outbox["sent"].pk]) in content
    assert reverse("oneonone_contact:inspect", args=[outbox["sent"].contact_id]) in content


def test_listing_is_read_only(admin_client: Client, outbox: dict[str, OutboxMessage]) -> None:
    for name in ("add", "edit", "delete", "copy", "history", "usage"):
        with pytest.raises(NoReverseMatch):
            reverse(f"oneonone_message:{name}", args=[] if name == "add" else [1])
    response = admin_client.get(reverse(INDEX))
    assert not response.context["can_add"]
    assert "Add message" not in response.content.decode()
    inspect = admin_client.post(reverse(INSPECT, args=[outbox["sent"].pk]))
    assert inspect.status_code == 405


@pytest.mark.parametrize(
    "ordering", ["contact__email", "subject", "kind", "status", "scheduled_at", "-sent_at"]
)
def test_every_column_sorts(
    admin_client: Client, outbox: dict[str, OutboxMessage], ordering: str
) -> None:
    response = admin_client.get(reverse(INDEX), {"ordering": ordering})
    assert response.status_code == 200
    assert len(listed(response)) == 4


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "sent"}, {"sent"}),
        ({"status": ["skipped", "failed"]}, {"skipped", "failed"}),
        ({"source_type": "test"}, {"failed"}),
        ({"source_type": "template"}, {"sent", "skipped", "queued"}),
        ({"kind": "transactional"}, {"failed"}),
        ({"contact_email": "BOB@"}, {"skipped", "queued"}),
        ({"q": "ada hi"}, {"sent", "failed"}),
        ({"q": "[test]"}, {"failed"}),
    ],
)
def test_filters_and_search(
    admin_client: Client,
    outbox: dict[str, OutboxMessage],
    params: dict[str, Any],
    expected: set[str],
) -> None:
    response = admin_client.get(reverse(INDEX), params)
    names = {name for name, message in outbox.items() if message in listed(response)}
    assert names == expected


def test_sent_date_range_filter(admin_client: Client, outbox: dict[str, OutboxMessage]) -> None:
    today = timezone.localdate()
    around = {
        "sent_at_from": (today - dt.timedelta(days=4)).isoformat(),
        "sent_at_to": (today - dt.timedelta(days=2)).isoformat(),
    }
    assert listed(admin_client.get(reverse(INDEX), around)) == [outbox["sent"]]
    since_yesterday = {"sent_at_from": (today - dt.timedelta(days=1)).isoformat()}
    assert listed(admin_client.get(reverse(INDEX), since_yesterday)) == []


def test_source_filter_offers_the_registered_sources(
    admin_client: Client, outbox: dict[str, OutboxMessage], monkeypatch: pytest.MonkeyPatch
) -> None:
    from wagtail_oneonone.sending import sources

    monkeypatch.setitem(sources._sources, "invoice", sources.TemplateMessageSource())
    response = admin_client.get(reverse(INDEX))
    choices = response.context["filters"].filters["source_type"].extra["choices"]
    names = ["campaign", "campaign_revision", "flow", "flow_notify", "invoice", "template", "test"]
    assert choices == [(name, name) for name in names]


def test_listing_query_count_does_not_grow_with_rows(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    contacts = [Contact.objects.create(email=f"c{i}@example.com") for i in range(12)]

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(reverse(INDEX)).status_code == 200
        return len(queries)

    make_message(contacts[0])
    few = count_queries()
    for i in range(40):
        make_message(contacts[i % len(contacts)], status=OutboxStatus.SENT, subject=f"#{i}")
    assert count_queries() == few
    with django_assert_max_num_queries(10):
        admin_client.get(reverse(INDEX), {"status": "sent", "q": "example"})


# A message's page -------------------------------------------------------------------------


class FrameParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.iframes: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            self.iframes.append(dict(attrs))


def test_message_page_shows_exactly_what_was_sent(
    admin_client: Client, outbox: dict[str, OutboxMessage]
) -> None:
    message = outbox["sent"]
    response = admin_client.get(reverse(INSPECT, args=[message.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    for value in ("esp-1", "&lt;1.abc@shop.example&gt;", message.idempotency_key, "template:1"):
        assert value in content
    assert "List-Unsubscribe-Post" in content
    assert "Oak &amp; Thread &lt;shop@shop.example&gt;" in content
    assert '<pre class="oneonone-text" data-oneonone-text>Hello Ada &amp; friends</pre>' in content
    parser = FrameParser()
    parser.feed(content)
    [frame] = parser.iframes
    assert frame["sandbox"] == ""
    assert frame["srcdoc"] == message.content.html
    assert reverse("oneonone_contact:inspect", args=[message.contact_id]) in content


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("skipped", "skipped because no marketing consent"),
        ("failed", "SMTP 550: mailbox unavailable"),
        ("queued", "Not sent yet"),
    ],
)
def test_message_page_before_or_without_sending(
    admin_client: Client, outbox: dict[str, OutboxMessage], name: str, shown: str
) -> None:
    response = admin_client.get(reverse(INSPECT, args=[outbox[name].pk]))
    content = response.content.decode()
    assert shown in content
    assert "<iframe" not in content
    assert "no content to show" in content


def test_test_send_page_says_where_it_went(
    admin_client: Client, outbox: dict[str, OutboxMessage]
) -> None:
    message = outbox["failed"]
    message.context = {"deliver_to": "staff@shop.example"}
    message.save()
    content = admin_client.get(reverse(INSPECT, args=[message.pk])).content.decode()
    assert "Test send" in content
    assert "staff@shop.example" in content


# Permissions and the contact page ---------------------------------------------------------


def test_messages_need_the_view_permission(
    client_for: Callable[..., Client], outbox: dict[str, OutboxMessage]
) -> None:
    home = reverse("wagtailadmin_home")
    urls = [reverse(INDEX), reverse(INSPECT, args=[outbox["sent"].pk])]
    nobody = client_for("nobody", "wagtail_oneonone.change_contact")
    for url in urls:
        response = nobody.get(url)
        assert (response.status_code, response["Location"]) == (302, home)
    assert "Sent messages" not in nobody.get(home).content.decode()

    viewer = client_for("viewer", "wagtail_oneonone.view_outboxmessage")
    for url in urls:
        assert viewer.get(url).status_code == 200
    assert "Sent messages" in viewer.get(home).content.decode()
    # Without a contact permission, no links to contact pages.
    page = viewer.get(urls[1]).content.decode()
    assert reverse("oneonone_contact:inspect", args=[outbox["sent"].contact_id]) not in page


def test_even_a_superuser_cannot_change_messages() -> None:
    from django.contrib.auth import get_user_model

    from wagtail_oneonone.admin.permissions import message_policy

    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    policy = message_policy()
    assert policy.user_has_permission(boss, "view")
    assert not policy.user_has_any_permission(boss, ["add", "change", "delete"])
    assert boss in policy.users_with_permission("view")
    assert not policy.users_with_permission("delete").exists()


def test_contact_page_lists_the_latest_messages(
    admin_client: Client, contact: Contact, outbox: dict[str, OutboxMessage]
) -> None:
    for i in range(11):
        make_message(contact, subject=f"Number {i}")
    response = admin_client.get(reverse("oneonone_contact:inspect", args=[contact.pk]))
    recent = response.context["recent_messages"]
    assert len(recent) == 10
    assert recent[0].subject == "Number 10"
    content = response.content.decode()
    assert reverse(INSPECT, args=[recent[0].pk]) in content
    assert outbox["skipped"] not in recent  # Bob's


def test_contact_page_hides_messages_without_the_permission(
    client_for: Callable[..., Client], contact: Contact, outbox: dict[str, OutboxMessage]
) -> None:
    client = client_for("clerk", "wagtail_oneonone.view_contact")
    response = client.get(reverse("oneonone_contact:inspect", args=[contact.pk]))
    assert response.status_code == 200
    assert response.context["recent_messages"] == []
    assert "data-oneonone-contact-messages" not in response.content.decode()


def test_outbox_and_templates_stay_out_of_reference_index_and_search() -> None:
    from wagtail.models import ReferenceIndex
    from wagtail.search.index import class_is_indexed

    from wagtail_oneonone.models import EmailTemplate

    for model in (OutboxMessage, SentContent, EmailTemplate):
        assert not ReferenceIndex.is_indexed(model)
        assert not class_is_indexed(model)
