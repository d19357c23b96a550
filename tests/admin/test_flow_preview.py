"""An email step of a flow previewed as a contact, and sent as a test to yourself: the
contact's own data, cart and trigger event, the flow page's links, the privacy rule, the
permissions, a broken template, and a test that reaches the staff address only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.campaigns import conftest as campaigns_conftest
from tests.flows.conftest import make_flow, raw, send, text, wait
from tests.sending import conftest as sending_conftest
from wagtail_oneonone.campaigns.preview import SESSION_KEY
from wagtail_oneonone.flows.builtin import install_builtin
from wagtail_oneonone.flows.preview import NotAnEmailStep, render_flow_step
from wagtail_oneonone.models import (
    ConsentStatus,
    Contact,
    Event,
    Flow,
    OutboxMessage,
    OutboxStatus,
    TriggerType,
)
from wagtail_oneonone.sending.dispatch import dispatch_due

pytestmark = pytest.mark.django_db

email_layout = campaigns_conftest.email_layout
sending_settings = sending_conftest.sending_settings
anymail_backend = sending_conftest.anymail_backend

VIEWER = ("wagtail_oneonone.view_flow", "wagtail_oneonone.view_contact")
EDITOR = ("wagtail_oneonone.change_flow", "wagtail_oneonone.view_contact")
OLD_CART = [{"product_id": "mug", "name": "Blue mug", "quantity": 1, "price": 12}]
CART = [
    {"product_id": "scarf", "name": "Wool scarf", "quantity": 1, "price": 25},
    {"product_id": "socks", "name": "Merino socks", "quantity": 2, "price": 9},
]


def preview_url(flow: Flow, step_id: str, **query: Any) -> str:
    url = reverse("oneonone_flow:step_preview", args=[flow.pk, step_id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def send_test_url(flow: Flow, step_id: str) -> str:
    return reverse("oneonone_flow:step_send_test", args=[flow.pk, step_id])


def refused(response: Any) -> bool:
    """Wagtail answers a denied admin page with a redirect home and a message."""
    return response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")


def message_texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def step_ids(flow: Flow, kind: str) -> list[str]:
    return [str(child.id) for child in flow.steps if child.block_type == kind]


def event(contact: Contact, type: str, minutes_ago: int, **properties: Any) -> Event:
    return Event.objects.create(
        contact=contact,
        type=type,
        occurred_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        properties=properties,
    )


@pytest.fixture
def cart_flow(email_layout: Any, sending_settings: Any) -> Flow:
    return install_builtin("cart_abandonment")


@pytest.fixture
def people(db: None) -> dict[str, Contact]:
    vera = Contact.objects.create(
        email="vera@example.com",
        first_name="Vera",
        consent_status=ConsentStatus.SUBSCRIBED,
    )
    nadia = Contact.objects.create(email="nadia@example.com", first_name="Nadia")
    event(vera, "cart_updated", 300, items=OLD_CART)
    event(vera, "product_viewed", 200, product_id="hat", name="Felt hat")
    event(vera, "cart_updated", 100, items=CART)
    event(vera, "page_viewed", 5, url="/about/")  # newer, but not the flow's trigger
    return {"vera": vera, "nadia": nadia}


def test_the_preview_renders_the_contacts_name_cart_and_trigger(
    admin_client: Client, cart_flow: Flow, people: dict[str, Contact]
) -> None:
    reminder = step_ids(cart_flow, "send_email")[0]
    vera = people["vera"]
    response = admin_client.get(preview_url(cart_flow, reminder, contact=vera.pk))
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview.error is None
    assert preview.email.subject == "Vera, your basket is waiting"
    # The items of her latest cart, not of the one before.
    assert "Wool scarf" in preview.email.html and "Merino socks" in preview.email.html
    assert "Blue mug" not in preview.email.html
    assert "Wool scarf" in preview.email.text
    # ``trigger`` is her latest cart update, not her latest event.
    assert preview.trigger == Event.objects.get(
        contact=vera, type="cart_updated", properties__items=CART
    )
    content = response.content.decode()
    assert "data-oneonone-trigger-event" in content
    assert "data-oneonone-no-trigger" not in content
    assert 'data-oneonone-frame="desktop"' in content and 'data-oneonone-frame="mobile"' in content
    assert "data-oneonone-send-test" in content
    assert "Vera, your basket is waiting" in content
    # Marketing: the unsubscribe link the worker adds is there, as a placeholder.
    assert "#unsubscribe" in preview.email.html
    # The choice is remembered, as on the campaign preview.
    assert admin_client.session[SESSION_KEY] == vera.pk


def test_switching_contact_changes_the_content_and_says_when_there_is_no_trigger(
    admin_client: Client, cart_flow: Flow, people: dict[str, Contact]
) -> None:
    reminder = step_ids(cart_flow, "send_email")[0]
    response = admin_client.get(preview_url(cart_flow, reminder, contact="nadia@example.com"))
    preview = response.context["preview"]
    assert preview.contact == people["nadia"]
    assert preview.email.subject == "Nadia, your basket is waiting"
    assert preview.trigger is None
    assert "Wool scarf" not in preview.email.html
    assert "data-oneonone-no-trigger" in response.content.decode()
    # Without ``contact``, the page shows the one chosen last.
    again = admin_client.get(preview_url(cart_flow, reminder))
    assert again.context["contact"] == people["nadia"]


def test_a_search_matching_several_contacts_lists_them(
    admin_client: Client, cart_flow: Flow, people: dict[str, Contact]
) -> None:
    reminder = step_ids(cart_flow, "send_email")[0]
    response = admin_client.get(preview_url(cart_flow, reminder, contact="example.com"))
    assert response.context["contact"] is None
    content = response.content.decode()
    assert "data-oneonone-matches" in content
    assert "vera@example.com" in content and "nadia@example.com" in content


def test_the_flow_page_links_each_email_step_to_its_preview(
    admin_client: Client, cart_flow: Flow
) -> None:
    content = admin_client.get(reverse("oneonone_flow:inspect", args=[cart_flow.pk])).content
    html = content.decode()
    for step_id in step_ids(cart_flow, "send_email"):
        assert preview_url(cart_flow, step_id) in html
    for step_id in step_ids(cart_flow, "wait"):
        assert preview_url(cart_flow, step_id) not in html
    assert html.count("data-oneonone-step-preview") == 3


def test_a_step_that_is_not_an_email_is_a_404(
    admin_client: Client, cart_flow: Flow, people: dict[str, Contact]
) -> None:
    first_wait = step_ids(cart_flow, "wait")[0]
    assert admin_client.get(preview_url(cart_flow, first_wait)).status_code == 404
    assert admin_client.get(preview_url(cart_flow, "no-such-step")).status_code == 404
    response = admin_client.post(
        send_test_url(cart_flow, first_wait), {"contact": people["vera"].pk}
    )
    assert response.status_code == 404
    assert not OutboxMessage.objects.exists()
    with pytest.raises(NotAnEmailStep, match="does not send an email"):
        render_flow_step(cart_flow, first_wait, people["vera"])


def test_without_a_contact_permission_the_preview_shows_an_invented_contact(
    client_for: Callable[..., Client], cart_flow: Flow, people: dict[str, Contact]
) -> None:
    reminder = step_ids(cart_flow, "send_email")[0]
    writer = client_for("wanda", "wagtail_oneonone.change_flow")
    response = writer.get(preview_url(cart_flow, reminder, contact=people["vera"].pk))
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview.contact.pk is None and preview.contact.first_name == "Jane"
    assert preview.email.subject == "Jane, your basket is waiting"
    content = response.content.decode()
    assert "vera@example.com" not in content and "Vera" not in content
    assert "nadia@example.com" not in content  # no suggestions either
    assert "data-oneonone-contact-form" not in content
    assert "data-oneonone-send-test" not in content
    assert "data-oneonone-sample-contact" in content
    # A test would render as a real contact: refused.
    response = writer.post(send_test_url(cart_flow, reminder), {"contact": people["vera"].pk})
    assert refused(response)
    assert not OutboxMessage.objects.exists()


def test_the_preview_and_the_test_need_flow_permissions(
    client_for: Callable[..., Client], cart_flow: Flow, people: dict[str, Contact]
) -> None:
    reminder = step_ids(cart_flow, "send_email")[0]
    vera = people["vera"]
    outsider = client_for("olga", "wagtail_oneonone.view_contact", "wagtail_oneonone.add_contact")
    assert refused(outsider.get(preview_url(cart_flow, reminder, contact=vera.pk)))
    assert refused(outsider.post(send_test_url(cart_flow, reminder), {"contact": vera.pk}))
    # Viewing flows opens the preview, but a test needs ``change_flow``.
    viewer = client_for("vic", *VIEWER)
    response = viewer.get(preview_url(cart_flow, reminder, contact=vera.pk))
    assert response.status_code == 200
    assert "data-oneonone-send-test" not in response.content.decode()
    assert refused(viewer.post(send_test_url(cart_flow, reminder), {"contact": vera.pk}))
    assert not OutboxMessage.objects.exists()


def test_send_a_test_to_myself(
    client_for: Callable[..., Client],
    cart_flow: Flow,
    people: dict[str, Contact],
    anymail_backend: Any,
) -> None:
    reminder = step_ids(cart_flow, "send_email")[0]
    vera = people["vera"]
    editor = client_for("eddie", *EDITOR)
    response = editor.post(send_test_url(cart_flow, reminder), {"contact": str(vera.pk)})
    assert response.status_code == 302
    assert response["Location"] == preview_url(cart_flow, reminder, contact=vera.pk)
    assert any("on its way to eddie@staff.example" in text for text in message_texts(response))
    message = OutboxMessage.objects.get()
    assert (message.contact, message.source_type) == (vera, "test")
    assert message.source_id == f"{cart_flow.pk}:{reminder}"
    assert message.context["deliver_to"] == "eddie@staff.example"
    assert message.context["test_of"] == "flow"
    assert message.trigger_event == Event.objects.get(
        contact=vera, type="cart_updated", properties__items=CART
    )

    result = dispatch_due()
    assert result.sent == 1
    assert len(anymail_backend.outbox) == 1
    sent = anymail_backend.outbox[0]
    assert sent.to == ["eddie@staff.example"]
    assert sent.subject == "[Test] Vera, your basket is waiting"
    html = sent.alternatives[0][0] if sent.alternatives else sent.body
    assert "Wool scarf" in html
    assert all("vera@example.com" not in ",".join(mail.to) for mail in anymail_backend.outbox)
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT
    assert OutboxMessage.objects.count() == 1


def test_a_test_needs_an_email_address_on_the_account(
    make_user: Callable[..., Any], cart_flow: Flow, people: dict[str, Contact]
) -> None:
    user = make_user("nomail", *EDITOR)
    user.email = ""
    user.save()
    client = Client()
    client.force_login(user)
    reminder = step_ids(cart_flow, "send_email")[0]
    page = client.get(preview_url(cart_flow, reminder, contact=people["vera"].pk))
    assert "has no email address" in page.content.decode()
    response = client.post(send_test_url(cart_flow, reminder), {"contact": people["vera"].pk})
    assert response.status_code == 302
    assert any("no email address" in text for text in message_texts(response))
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize(
    "source",
    [
        "<p>{{ 1 // 0 }}</p>",  # fails when rendered
        "<p>{% for item in %}</p>",  # fails to compile
    ],
)
def test_a_broken_template_shows_the_error_not_a_500(
    admin_client: Client,
    email_layout: Any,
    sending_settings: Any,
    people: dict[str, Contact],
    source: str,
) -> None:
    flow = make_flow(
        "Broken",
        [wait("w1", 1), send("mail", "Hello", text("<p>Hi</p>"), raw(source))],
        trigger_event_type="cart_updated",
    )
    response = admin_client.get(preview_url(flow, "mail", contact=people["vera"].pk))
    assert response.status_code == 200
    assert response.context["preview"].error is not None
    content = response.content.decode()
    assert "data-oneonone-render-error" in content
    assert "does not render for this contact" in content
    response = admin_client.post(send_test_url(flow, "mail"), {"contact": people["vera"].pk})
    assert any("The test was not sent" in text for text in message_texts(response))
    assert not OutboxMessage.objects.exists()


def test_a_flow_not_triggered_by_an_event_has_no_trigger_and_says_nothing_about_it(
    admin_client: Client, email_layout: Any, sending_settings: Any, people: dict[str, Contact]
) -> None:
    flow = make_flow(
        "Birthday",
        [send("greeting", "Happy birthday, {{ contact.first_name }}", text("<p>Cake!</p>"))],
        trigger_type=TriggerType.DATE,
        trigger_date_field="birthday",
    )
    response = admin_client.get(preview_url(flow, "greeting", contact=people["vera"].pk))
    preview = response.context["preview"]
    assert preview.email.subject == "Happy birthday, Vera"
    assert not preview.event_triggered and preview.trigger is None
    content = response.content.decode()
    assert "data-oneonone-no-trigger" not in content
    assert "data-oneonone-trigger-event" not in content
