"""Email templates in the admin: validation on save, preview as a contact, test sends."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from wagtail_oneonone.models import Contact, EmailTemplate, OutboxMessage, OutboxStatus

pytestmark = pytest.mark.django_db

HELLO_HTML = (
    "<p>Hello {{ contact.first_name|default('there', true) }}!</p>"
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Welcome",
        "kind": "marketing",
        "topic": "",
        "subject": "Hi {{ contact.first_name|default('there', true) }}",
        "preheader": "Something for you",
        "html_body": HELLO_HTML,
        "text_body": "",
        "from_email": "",
        "reply_to": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def template(db: None) -> EmailTemplate:
    return EmailTemplate.objects.create(
        name="Hello",
        subject="Hi {{ contact.first_name|default('there', true) }}",
        preheader="Just for {{ contact.first_name }}",
        html_body=HELLO_HTML,
    )


@pytest.fixture
def bob(db: None) -> Contact:
    return Contact.objects.create(email="bob@example.com", first_name="Bob")


class Frames(HTMLParser):
    """Collects the attributes of every iframe and the text of every script on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.iframes: list[dict[str, str | None]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            self.iframes.append(dict(attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def parse(response: Any) -> Frames:
    parser = Frames()
    parser.feed(response.content.decode())
    return parser


def message_texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# Listing and form -------------------------------------------------------------------------


def test_menu_has_templates_and_sent_messages(admin_client: Client) -> None:
    content = admin_client.get(reverse("wagtailadmin_home")).content.decode()
    assert "Email templates" in content
    assert "Sent messages" in content
    assert reverse("oneonone_email_template:index") == "/admin/oneonone_email_template/"


def test_listing_links_to_edit_and_preview(admin_client: Client, template: EmailTemplate) -> None:
    response = admin_client.get(reverse("oneonone_email_template:index"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Hello" in content
    assert reverse("oneonone_email_template:edit", args=[template.pk]) in content
    assert reverse("oneonone_email_template:preview", args=[template.pk]) in content
    edit_page = admin_client.get(reverse("oneonone_email_template:edit", args=[template.pk]))
    preview_url = reverse("oneonone_email_template:preview", args=[template.pk])
    assert preview_url in edit_page.content.decode()


def test_form_has_topic_select_and_monospace_bodies(admin_client: Client, settings: Any) -> None:
    settings.WAGTAIL_ONEONONE = {"MERGE_ON_LOGIN": False, "TOPICS": {"offers": "Offers"}}
    response = admin_client.get(reverse("oneonone_email_template:add"))
    form = response.context["form"]
    assert list(form.fields["topic"].choices) == [("", "No topic"), ("offers", "Offers")]
    for name in ("html_body", "text_body"):
        assert "monospace" in form.fields[name].widget.attrs["style"]


def test_create_template(admin_client: Client) -> None:
    response = admin_client.post(reverse("oneonone_email_template:add"), form_data(topic="offers"))
    assert response.status_code == 302
    template = EmailTemplate.objects.get(name="Welcome")
    assert template.topic == "offers"
    assert template.preheader == "Something for you"


def test_unknown_topic_is_refused(admin_client: Client) -> None:
    response = admin_client.post(reverse("oneonone_email_template:add"), form_data(topic="spam"))
    assert response.status_code == 200
    assert "topic" in response.context["form"].errors


def test_syntax_error_refuses_the_save_with_the_error_on_the_html_field(
    admin_client: Client,
) -> None:
    response = admin_client.post(
        reverse("oneonone_email_template:add"),
        form_data(html_body="<p>Hi</p>\n{% if contact.first_name %}<p>open</p>"),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["html_body"]
    assert errors["html_body"][0].startswith("Line 2:")
    assert "endif" in errors["html_body"][0]
    assert not EmailTemplate.objects.exists()


def test_errors_land_on_their_own_part(admin_client: Client, template: EmailTemplate) -> None:
    response = admin_client.post(
        reverse("oneonone_email_template:edit", args=[template.pk]),
        form_data(
            name="Hello",
            subject="Hi {{ contact.first_name|uper }}",
            text_body="{% for x in y %}",
        ),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"subject", "text_body"}
    assert "uper" in errors["subject"][0]
    template.refresh_from_db()
    assert template.subject.startswith("Hi {{ contact.first_name|default")


def test_unknown_variable_saves_with_a_warning_listing_it(
    admin_client: Client, template: EmailTemplate
) -> None:
    revision = template.revision
    response = admin_client.post(
        reverse("oneonone_email_template:edit", args=[template.pk]),
        form_data(name="Hello", html_body="<p>Hi {{ contcat.first_name }} {{ cart_total }}</p>"),
        follow=True,
    )
    assert response.status_code == 200
    template.refresh_from_db()
    assert template.html_body.startswith("<p>Hi {{ contcat")
    assert template.revision == revision + 1
    [warning] = [m for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    text = unescape(str(warning))
    assert "unknown variable 'contcat' (did you mean 'contact'?)" in text
    assert "cart_total" in text
    assert "html, line 1" in text


def test_a_clean_template_saves_without_warnings(
    admin_client: Client, template: EmailTemplate
) -> None:
    response = admin_client.post(
        reverse("oneonone_email_template:edit", args=[template.pk]),
        form_data(name="Hello"),
        follow=True,
    )
    levels = [m.level_tag for m in get_messages(response.wsgi_request)]
    assert levels == ["success"]


def test_sender_addresses_are_checked(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("oneonone_email_template:add"),
        form_data(from_email="not an address", reply_to="Jo Maker <jo@shop.example>"),
    )
    assert set(response.context["form"].errors) == {"from_email"}


# Preview ----------------------------------------------------------------------------------


def preview(client: Client, template: EmailTemplate, contact: str | int = "") -> Any:
    url = reverse("oneonone_email_template:preview", args=[template.pk])
    return client.get(url, {"contact": contact} if contact != "" else {})


def test_preview_without_a_contact_offers_the_chooser(
    admin_client: Client, template: EmailTemplate, contact: Contact, bob: Contact
) -> None:
    response = preview(admin_client, template)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="contact"' in content
    assert '<option value="ada@example.com">' in content
    assert '<option value="bob@example.com">' in content
    assert "<iframe" not in content


def test_preview_is_personalised_per_contact(
    admin_client: Client, template: EmailTemplate, contact: Contact, bob: Contact
) -> None:
    ada_page = preview(admin_client, template, "ada@example.com")
    bob_page = preview(admin_client, template, bob.pk)
    assert ada_page.context["rendered"].subject == "Hi Ada"
    assert bob_page.context["rendered"].subject == "Hi Bob"
    assert "Just for Ada" in ada_page.content.decode()
    [desktop, mobile] = parse(bob_page).iframes
    assert desktop["width"] == "640"
    assert mobile["width"] == "375"
    assert "Hello Bob!" in (desktop["srcdoc"] or "")
    assert "Bob" in bob_page.context["rendered"].text


def test_preview_finds_contacts_by_search(
    admin_client: Client, template: EmailTemplate, contact: Contact, bob: Contact
) -> None:
    # One match: previewed at once; several: listed to choose from; none: said so.
    assert preview(admin_client, template, "lovelace").context["contact"] == contact
    several = preview(admin_client, template, "example.com")
    assert several.context["contact"] is None
    assert {c.email for c in several.context["choice"].matches} == {
        "ada@example.com",
        "bob@example.com",
    }
    assert f"?contact={bob.pk}" in several.content.decode()
    none = preview(admin_client, template, "nobody@example.org")
    assert "No contact matches" in none.content.decode()


def test_marketing_preview_shows_the_unsubscribe_link_the_worker_adds(
    admin_client: Client, contact: Contact
) -> None:
    template = EmailTemplate.objects.create(name="Bare", subject="Hi", html_body="<p>Hello</p>")
    rendered = preview(admin_client, template, contact.pk).context["rendered"]
    assert 'href="#unsubscribe"' in rendered.html
    assert "Unsubscribe: #unsubscribe" in rendered.text


def test_preview_shows_render_errors_instead_of_crashing(
    admin_client: Client, contact: Contact
) -> None:
    # Saved outside the admin, so never validated.
    broken = EmailTemplate.objects.create(
        name="Broken", subject="Hi", html_body="<p>a</p>\n<p>{{ contact.first_name|uper }}</p>"
    )
    response = preview(admin_client, broken, contact.pk)
    assert response.status_code == 200
    error = response.context["render_error"]
    assert (error.part, error.line) == ("html", 2)
    content = response.content.decode()
    assert "does not render for this contact" in content
    assert "uper" in content
    assert "<iframe" not in content


def test_iframe_is_sandboxed_and_srcdoc_cannot_be_broken_out_of(
    admin_client: Client, contact: Contact
) -> None:
    contact.first_name = '"><script>alert("name")</script>'
    contact.save()
    hostile = EmailTemplate.objects.create(
        name="Hostile",
        subject="Hi",
        kind="transactional",
        html_body=(
            '<p title="a\'b">"quoted" &amp; {{ contact.first_name }}</p>'
            '"></iframe><script>alert("template")</script>'
        ),
    )
    response = preview(admin_client, hostile, contact.pk)
    rendered = response.context["rendered"]
    page = parse(response)
    assert len(page.iframes) == 2
    for frame in page.iframes:
        assert frame["sandbox"] == ""  # no allow-scripts, no allow-same-origin
        # The attribute holds the whole document, exactly, and nothing leaked out of it.
        assert frame["srcdoc"] == rendered.html
    assert '<script>alert("template")</script>' in rendered.html
    assert not [s for s in page.scripts if "alert(" in s]
    # The contact's name was escaped inside the email itself.
    assert "&lt;script&gt;alert(&#34;name&#34;)" in rendered.html


# Send a test to me ------------------------------------------------------------------------


@pytest.fixture
def anymail_outbox(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from django.core import mail

    from wagtail_oneonone import tasks

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}
    settings.DEFAULT_FROM_EMAIL = "Oak & Thread <shop@shop.example>"
    settings.WAGTAIL_ONEONONE = {
        "BASE_URL": "https://shop.example",
        "QUIET_HOURS": None,
        "MERGE_ON_LOGIN": False,
    }
    monkeypatch.setattr(tasks, "_last_wake", 0.0)  # the wake-up is debounced per process
    mail.outbox = []
    return mail.outbox


def send_test_url(template: EmailTemplate) -> str:
    return reverse("oneonone_email_template:send_test", args=[template.pk])


def test_send_a_test_to_me_queues_and_sends_to_the_user(
    client_for: Callable[..., Client],
    template: EmailTemplate,
    contact: Contact,
    anymail_outbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for(
        "marketer",
        "wagtail_oneonone.view_emailtemplate",
        "wagtail_oneonone.view_contact",
        "wagtail_oneonone.view_outboxmessage",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(send_test_url(template), {"contact": contact.pk})
    preview_url = reverse("oneonone_email_template:preview", args=[template.pk])
    assert response.status_code == 302
    assert response["Location"] == f"{preview_url}?contact={contact.pk}"
    [email] = anymail_outbox
    assert email.to == ["marketer@staff.example"]
    assert email.subject == "[Test] Hi Ada"
    message = OutboxMessage.objects.get()
    assert message.source_type == "test"
    assert message.contact == contact
    assert message.status == OutboxStatus.SENT
    page = client.get(response["Location"])
    text = " ".join(message_texts(page))
    assert "on its way to marketer@staff.example" in text
    assert reverse("oneonone_message:inspect", args=[message.pk]) in page.content.decode()


def test_send_a_test_needs_an_email_on_the_account(
    admin_client: Client, admin_user: Any, template: EmailTemplate, contact: Contact
) -> None:
    admin_user.email = ""
    admin_user.save()
    response = admin_client.post(send_test_url(template), {"contact": contact.pk}, follow=True)
    assert any("no email address" in text for text in message_texts(response))
    assert not OutboxMessage.objects.exists()
    # The preview says so before anyone clicks.
    assert "Your account has no email address" in response.content.decode()


def test_send_a_test_refuses_a_template_that_does_not_render(
    admin_client: Client, contact: Contact
) -> None:
    broken = EmailTemplate.objects.create(name="Broken", subject="Hi", html_body="{{ x|uper }}")
    response = admin_client.post(send_test_url(broken), {"contact": contact.pk}, follow=True)
    assert any("does not render" in text for text in message_texts(response))
    assert not OutboxMessage.objects.exists()


def test_send_a_test_needs_a_contact(admin_client: Client, template: EmailTemplate) -> None:
    response = admin_client.post(send_test_url(template), {"contact": "nobody"}, follow=True)
    assert any("Choose the contact" in text for text in message_texts(response))
    assert not OutboxMessage.objects.exists()


def test_send_a_test_is_post_only(admin_client: Client, template: EmailTemplate) -> None:
    assert admin_client.get(send_test_url(template)).status_code == 405


# Permissions ------------------------------------------------------------------------------


def test_template_permissions(
    client_for: Callable[..., Client], template: EmailTemplate, contact: Contact
) -> None:
    home = reverse("wagtailadmin_home")
    preview_url = reverse("oneonone_email_template:preview", args=[template.pk])
    edit_url = reverse("oneonone_email_template:edit", args=[template.pk])
    index_url = reverse("oneonone_email_template:index")

    nobody = client_for("nobody")
    for url in (index_url, edit_url, preview_url):
        response = nobody.get(url)
        assert (response.status_code, response["Location"]) == (302, home), url
    assert nobody.post(send_test_url(template), {"contact": contact.pk}).status_code == 302
    assert not OutboxMessage.objects.exists()

    viewer = client_for("viewer", "wagtail_oneonone.view_emailtemplate")
    assert viewer.get(index_url).status_code == 200
    assert viewer.get(edit_url).status_code == 302  # viewing is not changing
    # Previewing shows a contact's data: it needs a contact permission as well.
    assert viewer.get(preview_url).status_code == 302

    both = client_for(
        "both", "wagtail_oneonone.view_emailtemplate", "wagtail_oneonone.view_contact"
    )
    assert both.get(preview_url, {"contact": contact.pk}).status_code == 200

    editor = client_for("editor", "wagtail_oneonone.change_emailtemplate")
    assert editor.get(edit_url).status_code == 200


def test_view_permission_is_offered_for_groups(admin_client: Client) -> None:
    from wagtail import hooks

    codenames = {
        permission.codename
        for fn in hooks.get_hooks("register_permissions")
        for permission in fn()
        if permission.content_type.app_label == "wagtail_oneonone"
    }
    assert {
        "add_emailtemplate",
        "change_emailtemplate",
        "delete_emailtemplate",
        "view_emailtemplate",
        "view_outboxmessage",
    } <= codenames
    assert not {"add_outboxmessage", "change_outboxmessage", "delete_outboxmessage"} & codenames
