"""The CSV import wizard in the admin: upload, mapping, progress and summary."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from wagtail_oneonone.models import ConsentChange, Contact, ContactImport

pytestmark = pytest.mark.django_db

CSV = (
    "Email,First name,Last name,Favourite colour\n"
    "ada@example.com,Ada,Lovelace,green\n"
    "bob@example.com,Bob,,blue\n"
    "broken,Nope,,\n"
)


def upload(
    client: Client,
    data: bytes | str = CSV,
    *,
    name: str = "customers.csv",
    status: str = "subscribed",
    source: str = "Newsletter form 2024",
) -> Any:
    raw = data.encode() if isinstance(data, str) else data
    return client.post(
        reverse("oneonone_contact_import:upload"),
        {
            "file": SimpleUploadedFile(name, raw, content_type="text/csv"),
            "consent_status": status,
            "consent_source": source,
        },
    )


def test_whole_wizard(
    admin_client: Client, admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    response = upload(admin_client)
    contact_import = ContactImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "oneonone_contact_import:mapping", args=[contact_import.pk]
    )
    assert (contact_import.status, contact_import.total_rows) == ("uploaded", 3)
    assert contact_import.created_by == admin_user

    # Step 2: the header, the first rows and a guessed mapping.
    page = admin_client.get(response["Location"])
    assert page.status_code == 200
    content = page.content.decode()
    assert "Favourite colour" in content and "ada@example.com" in content and "broken" in content
    form = page.context["form"]
    assert [form[f"column_{i}"].initial for i in range(4)] == [
        "email",
        "first_name",
        "last_name",
        "",
    ]
    assert "attribute:favourite_colour" in dict(form.fields["column_3"].choices)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        started = admin_client.post(
            response["Location"],
            {
                "column_0": "email",
                "column_1": "first_name",
                "column_2": "last_name",
                "column_3": "attribute:favourite_colour",
            },
        )
    # The task is enqueued on commit (sync mode then runs it inline).
    assert "enqueue_contact_import" in callbacks[0].__qualname__
    detail_url = reverse("oneonone_contact_import:detail", args=[contact_import.pk])
    assert started.status_code == 302 and started["Location"] == detail_url

    contact_import.refresh_from_db()
    assert contact_import.status == "done"
    assert (contact_import.created_count, contact_import.error_count) == (2, 1)
    ada = Contact.objects.get(email="ada@example.com")
    assert ada.attributes == {"favourite_colour": "green"}
    assert ada.consent_status == "subscribed"
    change = ConsentChange.objects.get(contact=ada)
    assert (change.source, change.where, change.actor) == (
        "Newsletter form 2024",
        "CSV import customers.csv",
        admin_user,
    )

    # Step 4: summary and row reports.
    summary = admin_client.get(detail_url)
    content = summary.content.decode()
    assert 'data-count="created">2<' in content
    assert 'data-count="errors">1<' in content
    assert "not a valid email" in content
    assert "data-oneonone-import" in content
    assert "import_progress.js" not in content  # finished: no polling

    status = admin_client.get(reverse("oneonone_contact_import:status", args=[contact_import.pk]))
    assert status.json() == {
        "status": "done",
        "status_label": "Done",
        "processed_rows": 3,
        "total_rows": 3,
        "percent": 100,
        "created": 2,
        "updated": 0,
        "errors": 1,
        "finished": True,
    }

    errors = admin_client.get(reverse("oneonone_contact_import:errors", args=[contact_import.pk]))
    assert errors["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(errors.content.decode())))
    assert rows[0] == ["row", "last_row", "kind", "field", "message"]
    assert rows[1][:4] == ["4", "", "error", "email"]

    # The mapping step is over: going back shows the result instead.
    again = admin_client.get(reverse("oneonone_contact_import:mapping", args=[contact_import.pk]))
    assert again.status_code == 302 and again["Location"] == detail_url

    listing = admin_client.get(reverse("oneonone_contact_import:index"))
    assert "customers.csv" in listing.content.decode()


def test_progress_page_polls_while_running(admin_client: Client) -> None:
    contact_import = ContactImport.objects.create(
        original_name="big.csv", status="running", total_rows=1000, processed_rows=250
    )
    content = admin_client.get(
        reverse("oneonone_contact_import:detail", args=[contact_import.pk])
    ).content.decode()
    assert "import_progress.js" in content
    assert 'value="250"' in content and 'max="1000"' in content
    status = admin_client.get(reverse("oneonone_contact_import:status", args=[contact_import.pk]))
    assert status.json()["percent"] == 25 and status.json()["finished"] is False


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.csv", "The submitted file is empty"),
        (b"email\n", "header-only.csv", "no contacts"),
        ("email\nzoë@example.com\n".encode("latin-1"), "latin1.csv", "not UTF-8"),
        (b"PK\x03\x04zip", "book.xlsx", "Upload a CSV file"),
        (b"PK\x03\x04zip", "book.csv", "spreadsheet workbook"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image.csv", "not a CSV text file"),
    ],
)
def test_bad_uploads_are_refused(
    admin_client: Client, data: bytes, name: str, message: str
) -> None:
    response = upload(admin_client, data, name=name)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["file"])
    assert not ContactImport.objects.exists()


def test_upload_size_limit(admin_client: Client, settings: Any) -> None:
    settings.WAGTAIL_ONEONONE = {"IMPORT_MAX_FILE_BYTES": 20, "MERGE_ON_LOGIN": False}
    response = upload(admin_client)
    assert "the limit is 20" in " ".join(response.context["form"].errors["file"])


def test_consent_source_is_required(admin_client: Client) -> None:
    response = upload(admin_client, source="   ")
    assert response.status_code == 200
    assert "consent_source" in response.context["form"].errors
    assert not ContactImport.objects.exists()


def test_mapping_without_email_is_refused(admin_client: Client) -> None:
    upload(admin_client, "Name,Address\nAda,ada@example.com\n")
    contact_import = ContactImport.objects.get()
    url = reverse("oneonone_contact_import:mapping", args=[contact_import.pk])
    page = admin_client.get(url)
    assert [page.context["form"][f"column_{i}"].initial for i in range(2)] == ["", ""]
    response = admin_client.post(url, {"column_0": "first_name", "column_1": ""})
    assert response.status_code == 200
    assert "Map one column to Email" in response.content.decode()
    contact_import.refresh_from_db()
    assert contact_import.status == "uploaded"


def test_discarding_an_upload_deletes_it_and_its_file(
    admin_client: Client, media_root: Any
) -> None:
    upload(admin_client)
    contact_import = ContactImport.objects.get()
    assert any(path.is_file() for path in media_root.rglob("*"))
    response = admin_client.post(
        reverse("oneonone_contact_import:discard", args=[contact_import.pk])
    )
    assert response.status_code == 302
    assert not ContactImport.objects.exists()
    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_import_views_need_the_import_permission(
    client_for: Callable[..., Client], django_capture_on_commit_callbacks: Any
) -> None:
    viewer = client_for("viewer", "wagtail_oneonone.view_contact", "wagtail_oneonone.add_contact")
    assert upload(viewer).status_code == 302
    assert not ContactImport.objects.exists()
    importer = client_for("importer", "wagtail_oneonone.import_contacts")
    assert upload(importer).status_code == 302
    contact_import = ContactImport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        importer.post(
            reverse("oneonone_contact_import:mapping", args=[contact_import.pk]),
            {"column_0": "email"},
        )
    contact_import.refresh_from_db()
    assert contact_import.status == "done" and contact_import.created_count == 2
