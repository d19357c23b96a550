from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from tests.campaigns.conftest import EVERYONE, make_campaign, segment
from wagtail_oneonone.models import Contact, ContactImport

pytestmark = pytest.mark.django_db

MENU_LABEL = "One-to-one"


@pytest.fixture
def editor_client(make_user: Callable[..., Any]) -> Client:
    """A plain Wagtail editor: admin access and page permissions, none of ours."""
    user = make_user("editor")
    user.groups.add(Group.objects.get(name="Editors"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def app_urls(contact: Contact) -> list[str]:
    contact_import = ContactImport.objects.create(original_name="x.csv", total_rows=1)
    urls = [
        reverse("oneonone_contact:index"),
        reverse("oneonone_contact:index_results"),
        reverse("oneonone_contact:add"),
        reverse("oneonone_suppression:index"),
        reverse("oneonone_contact_import:index"),
        reverse("oneonone_contact_import:upload"),
    ]
    for name in ("inspect", "edit", "history", "export", "erase", "consent"):
        urls.append(reverse(f"oneonone_contact:{name}", args=[contact.pk]))
    for name in ("detail", "mapping", "status", "errors", "discard"):
        urls.append(reverse(f"oneonone_contact_import:{name}", args=[contact_import.pk]))
    campaign = make_campaign(audience=[segment("Everyone", EVERYONE)])
    urls += [reverse("oneonone_campaign:list"), reverse("oneonone_campaign:add")]
    for name in ("edit", "preview_as", "send_test", "schedule", "cancel", "report", "progress"):
        urls.append(reverse(f"oneonone_campaign:{name}", args=[campaign.pk]))
    urls.append(reverse("oneonone_email_layout:list"))
    return urls


def test_viewset_urls_are_prefixed() -> None:
    assert reverse("oneonone_contact:index") == "/admin/oneonone_contact/"
    assert reverse("oneonone_contact_import:index") == "/admin/oneonone_contact_import/"
    assert reverse("oneonone_suppression:index") == "/admin/oneonone_suppression/"


def test_superuser_sees_the_menu_group(admin_client: Client) -> None:
    content = admin_client.get(reverse("wagtailadmin_home")).content.decode()
    assert MENU_LABEL in content
    for label in ("Contacts", "Import contacts", "Suppressions"):
        assert label in content


def test_editor_without_our_permissions_sees_no_menu(editor_client: Client) -> None:
    response = editor_client.get(reverse("wagtailadmin_home"))
    assert response.status_code == 200
    content = response.content.decode()
    assert MENU_LABEL not in content
    assert "oneonone_contact" not in content


def test_editor_without_our_permissions_is_refused_everywhere(
    editor_client: Client, app_urls: list[str]
) -> None:
    for url in app_urls:
        response = editor_client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == reverse("wagtailadmin_home"), url
        ajax = editor_client.get(url, headers={"x-requested-with": "XMLHttpRequest"})
        assert ajax.status_code == 403, url
        post = editor_client.post(url, {}, headers={"x-requested-with": "XMLHttpRequest"})
        assert post.status_code in (403, 405), url


def test_anonymous_is_sent_to_login(client: Client, app_urls: list[str]) -> None:
    for url in app_urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("wagtailadmin_login"))


def test_importer_sees_imports_but_cannot_edit_contacts(
    client_for: Callable[..., Client], contact: Contact
) -> None:
    client = client_for("importer", "wagtail_oneonone.import_contacts")
    content = client.get(reverse("wagtailadmin_home")).content.decode()
    assert MENU_LABEL in content and "Import contacts" in content
    assert client.get(reverse("oneonone_contact_import:upload")).status_code == 200
    assert client.get(reverse("oneonone_contact:index")).status_code == 200
    assert client.get(reverse("oneonone_contact:edit", args=[contact.pk])).status_code == 302
    assert client.get(reverse("oneonone_contact:add")).status_code == 302


def test_contact_viewer_cannot_import(client_for: Callable[..., Client], contact: Contact) -> None:
    client = client_for("viewer", "wagtail_oneonone.view_contact")
    content = client.get(reverse("wagtailadmin_home")).content.decode()
    assert MENU_LABEL in content
    assert "Import contacts" not in content
    assert client.get(reverse("oneonone_contact:index")).status_code == 200
    assert client.get(reverse("oneonone_contact:inspect", args=[contact.pk])).status_code == 200
    assert client.get(reverse("oneonone_contact_import:upload")).status_code == 302
    assert client.get(reverse("oneonone_contact_import:index")).status_code == 302


def test_custom_permissions_appear_in_the_group_editor(admin_client: Client) -> None:
    content = admin_client.get(reverse("wagtailusers_groups:add")).content.decode()
    for label in (
        "Can import contacts from CSV",
        "Can export a contact&#x27;s data",
        "Can erase a contact and their data",
    ):
        assert label in content
