"""The CSV import service: reading, mapping and batch-by-batch writing."""

from __future__ import annotations

from typing import Any

import pytest

from wagtail_oneonone.contacts import importing
from wagtail_oneonone.contacts.importing import ImportFileError, ImportMappingError
from wagtail_oneonone.contacts.services import set_consent, suppress
from wagtail_oneonone.models import (
    ConsentChange,
    ConsentStatus,
    Contact,
    ContactImport,
    Suppression,
)
from wagtail_oneonone.models.contacts import SuppressionReason

HEADER = "Email,First name,Surname,Time zone,Birthday,Shoe size\n"


def run(
    data: str | bytes,
    *,
    status: str = "subscribed",
    mapping: list[str] | None = None,
    source: str = "Shop sign-up form",
) -> ContactImport:
    raw = data.encode() if isinstance(data, str) else data
    contact_import = importing.create_import(
        raw, "customers.csv", consent_source=source, consent_status=status
    )
    preview = importing.preview_import(contact_import)
    targets = mapping if mapping is not None else preview.guessed
    importing.start_import(contact_import, importing.clean_mapping(preview.header, targets))
    result = importing.run_import(contact_import.pk)
    assert result is not None
    return result


def errors_by_row(contact_import: ContactImport) -> dict[int, dict[str, Any]]:
    return {entry["row"]: entry for entry in contact_import.errors}


# Pure parts ------------------------------------------------------------------------------


def test_guess_mapping_from_header_names() -> None:
    header = ["E-mail Address", "First Name", "surname", "TZ", "DOB", "Shoe size", "email"]
    assert importing.guess_mapping(header) == [
        "email",
        "first_name",
        "last_name",
        "time_zone",
        "birthday",
        "",
        "",  # a second email column is not guessed twice
    ]


def test_mapping_choices_offer_a_custom_attribute_per_column() -> None:
    choices = dict(importing.mapping_choices(["Shoe size"], 0))
    assert "attribute:shoe_size" in choices
    assert "" in choices and "email" in choices and "customer_since" in choices


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (["", "first_name"], "Map one column to Email"),
        (["email", "email"], "both mapped"),
        (["email", "password"], "not a contact field"),
        (["email"], "every column"),
    ],
)
def test_clean_mapping_refuses(targets: list[str], message: str) -> None:
    with pytest.raises(ImportMappingError, match=message):
        importing.clean_mapping(["a", "b"], targets)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\xff\xfeE\x00m\x00", "binary data"),
        ("email\nzoë@example.com\n".encode("latin-1"), "not UTF-8"),
        (b"PK\x03\x04rest-of-a-zip", "spreadsheet workbook"),
        (b"email\n", "no contacts"),
        (b",,\nbob@example.com,,\n", "first row must name the columns"),
        (b'email\n"unterminated\n', "not valid CSV"),
    ],
)
def test_unimportable_files_are_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        importing.inspect_csv(data)


def test_inspect_counts_rows_and_handles_bom_semicolons_and_blank_lines() -> None:
    summary = importing.inspect_csv("\ufeffemail;name\na@x.com;A\n\nb@x.com;B\n".encode())
    assert summary.header == ["email", "name"]
    assert summary.delimiter == ";"
    assert summary.row_count == 2


def test_row_limit() -> None:
    with pytest.raises(ImportFileError, match="more than 2 rows"):
        importing.inspect_csv(b"email\na@x.com\nb@x.com\nc@x.com\n", max_rows=2)


@pytest.mark.parametrize(
    ("current", "requested", "suppressed", "action"),
    [
        (None, "subscribed", False, "set"),
        ("none", "subscribed", False, "set"),
        ("pending", "subscribed", False, "set"),
        ("subscribed", "subscribed", False, "keep"),
        ("unsubscribed", "subscribed", False, "skip"),
        (None, "subscribed", True, "skip"),
        ("subscribed", "pending", False, "keep"),
        ("unsubscribed", "pending", False, "skip"),
        ("subscribed", "none", False, "keep"),
        (None, "none", False, "keep"),
        ("subscribed", "unsubscribed", False, "set"),
        ("unsubscribed", "unsubscribed", False, "keep"),
    ],
)
def test_consent_action(
    current: str | None, requested: str, suppressed: bool, action: str
) -> None:
    assert importing.consent_action(current, requested, suppressed=suppressed) == action


# Running ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_happy_path_creates_contacts_with_consent_and_deletes_the_file() -> None:
    result = run(
        HEADER
        + "Ada@Example.com,Ada,Lovelace,Europe/London,1815-12-10,38\n"
        + "bob@example.com,Bob,,,,\n",
        mapping=[
            "email",
            "first_name",
            "last_name",
            "time_zone",
            "birthday",
            "attribute:shoe_size",
        ],
    )
    assert result.status == ContactImport.Status.DONE
    assert (result.total_rows, result.processed_rows) == (2, 2)
    assert (result.created_count, result.updated_count, result.error_count) == (2, 0, 0)
    assert result.errors == []
    assert result.percent == 100
    assert not result.file and result.finished_at
    ada = Contact.objects.get(email="ada@example.com")
    assert (ada.first_name, ada.last_name, ada.time_zone) == ("Ada", "Lovelace", "Europe/London")
    assert ada.birthday.isoformat() == "1815-12-10"
    assert ada.attributes == {"shoe_size": "38"}
    assert ada.source == "CSV import"
    assert ada.consent_status == ConsentStatus.SUBSCRIBED
    change = ConsentChange.objects.get(contact=ada)
    assert change.source == "Shop sign-up form"
    assert change.where == "CSV import customers.csv"


@pytest.mark.django_db
def test_file_is_deleted_from_storage(media_root: Any) -> None:
    result = run("email\nbob@example.com\n")
    assert result.status == ContactImport.Status.DONE
    assert not any(path.is_file() for path in media_root.rglob("*"))


@pytest.mark.django_db
def test_existing_contacts_are_updated_and_attributes_merged() -> None:
    Contact.objects.create(email="ada@example.com", first_name="A", attributes={"vip": True})
    result = run(
        "email,first_name,last_name,shoe\nada@example.com,Ada,,38\n",
        status="none",
        mapping=["email", "first_name", "last_name", "attribute:shoe"],
    )
    assert (result.created_count, result.updated_count) == (0, 1)
    ada = Contact.objects.get(email="ada@example.com")
    assert ada.first_name == "Ada"
    assert ada.last_name == ""  # an empty cell leaves the value alone
    assert ada.attributes == {"vip": True, "shoe": "38"}
    assert ada.consent_status == ConsentStatus.NONE
    assert not ConsentChange.objects.exists()


@pytest.mark.django_db
def test_unchanged_contacts_are_not_counted_as_updated() -> None:
    Contact.objects.create(email="ada@example.com", first_name="Ada")
    result = run("email,first_name\nada@example.com,Ada\n", status="none")
    assert (result.created_count, result.updated_count, result.error_count) == (0, 0, 0)


@pytest.mark.django_db
def test_per_row_errors_are_reported_and_nothing_is_written_for_them() -> None:
    result = run(
        "email,first_name,time_zone,birthday\n"
        "good@example.com,Good,Europe/Paris,1990-01-31\n"  # row 2
        "not-an-email,Bad,,\n"  # row 3
        "tz@example.com,Tz,Mars/Olympus,\n"  # row 4
        "date@example.com,Date,,31/01/1990\n"  # row 5
        "short@example.com,Short\n"  # row 6: too few columns
        "long@example.com,Long,,,extra\n"  # row 7: too many columns
        ",Nobody,,\n"  # row 8: no email
    )
    assert result.status == ContactImport.Status.DONE
    assert (result.created_count, result.error_count, result.processed_rows) == (1, 6, 7)
    assert list(Contact.objects.values_list("email", flat=True)) == ["good@example.com"]
    errors = errors_by_row(result)
    assert set(errors) == {3, 4, 5, 6, 7, 8}
    assert errors[3]["field"] == "email" and "not a valid email" in errors[3]["message"]
    assert errors[4]["field"] == "time_zone" and "IANA" in errors[4]["message"]
    assert errors[5]["field"] == "birthday" and "YYYY-MM-DD" in errors[5]["message"]
    assert "has 2 columns but the header has 4" in errors[6]["message"]
    assert "has 5 columns" in errors[7]["message"]
    assert errors[8]["field"] == "email" and "empty" in errors[8]["message"]
    assert {entry["kind"] for entry in result.errors} == {"error"}


@pytest.mark.django_db
def test_unsubscribed_contacts_are_never_resubscribed() -> None:
    gone = Contact.objects.create(email="gone@example.com")
    set_consent(gone, ConsentStatus.UNSUBSCRIBED, source="unsubscribe link")
    suppress("bounced@example.com", SuppressionReason.COMPLAINT)
    result = run(
        "email,first_name\ngone@example.com,Gone\nbounced@example.com,B\nnew@example.com,N\n"
    )
    gone.refresh_from_db()
    assert gone.consent_status == ConsentStatus.UNSUBSCRIBED
    assert gone.first_name == ""  # the skipped row wrote nothing
    assert ConsentChange.objects.filter(contact=gone).count() == 1
    assert not Contact.objects.filter(email="bounced@example.com").exists()
    assert Contact.objects.get(email="new@example.com").consent_status == ConsentStatus.SUBSCRIBED
    errors = errors_by_row(result)
    assert errors[2]["kind"] == "skipped" and "unsubscribed" in errors[2]["message"]
    assert errors[3]["kind"] == "skipped" and "suppression list" in errors[3]["message"]
    assert (result.created_count, result.error_count) == (1, 2)


@pytest.mark.django_db
def test_an_import_never_downgrades_a_subscription() -> None:
    fan = Contact.objects.create(email="fan@example.com")
    set_consent(fan, ConsentStatus.SUBSCRIBED, source="form")
    run("email\nfan@example.com\n", status="pending")
    run("email\nfan@example.com\n", status="none")
    fan.refresh_from_db()
    assert fan.consent_status == ConsentStatus.SUBSCRIBED


@pytest.mark.django_db
def test_unsubscribe_list_unsubscribes_and_suppresses() -> None:
    fan = Contact.objects.create(email="fan@example.com")
    set_consent(fan, ConsentStatus.SUBSCRIBED, source="form")
    result = run("email\nfan@example.com\nother@example.com\n", status="unsubscribed")
    assert (result.created_count, result.updated_count) == (1, 1)
    assert set(Contact.objects.values_list("consent_status", flat=True)) == {"unsubscribed"}
    assert Suppression.objects.count() == 2


@pytest.mark.django_db
def test_duplicate_emails_later_row_wins_and_is_reported(settings: Any) -> None:
    settings.WAGTAIL_ONEONONE = {"IMPORT_BATCH_SIZE": 2, "MERGE_ON_LOGIN": False}
    result = run(
        "email,first_name\n"
        "dup@example.com,First\n"  # row 2
        "DUP@example.com,Second\n"  # row 3, same batch
        "x@example.com,X\n"  # row 4
        "dup@example.com,Third\n"  # row 5, next batch
    )
    assert Contact.objects.get(email="dup@example.com").first_name == "Third"
    assert (result.created_count, result.updated_count, result.error_count) == (2, 0, 0)
    duplicates = [entry for entry in result.errors if entry["kind"] == "duplicate"]
    assert [(entry["row"], "row 2" in entry["message"]) for entry in duplicates] == [
        (3, True),
        (5, True),
    ]


@pytest.fixture
def failing_insert() -> Any:
    """Install a real database trigger that refuses inserting one contact's address."""
    from django.db import connection

    table = Contact._meta.db_table
    installed: list[str] = []

    def install(email: str, message: str) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "CREATE FUNCTION oneonone_test_refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.email = '{email}' THEN RAISE EXCEPTION '{message}'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
                cursor.execute(
                    f"CREATE TRIGGER oneonone_test_refuse BEFORE INSERT ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION oneonone_test_refuse()"
                )
            else:
                cursor.execute(
                    f"CREATE TRIGGER oneonone_test_refuse BEFORE INSERT ON {table} "
                    f"WHEN NEW.email = '{email}' BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )
        installed.append(connection.vendor)

    yield install
    with connection.cursor() as cursor:
        for vendor in installed:
            if vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS oneonone_test_refuse ON {table}")
                cursor.execute("DROP FUNCTION IF EXISTS oneonone_test_refuse()")
            else:
                cursor.execute("DROP TRIGGER IF EXISTS oneonone_test_refuse")


@pytest.mark.django_db
def test_each_batch_is_all_or_nothing(settings: Any, failing_insert: Any) -> None:
    settings.WAGTAIL_ONEONONE = {"IMPORT_BATCH_SIZE": 2, "MERGE_ON_LOGIN": False}
    # The database itself refuses d@example.com, as a full disk or a constraint would.
    failing_insert("d@example.com", "disk I/O error")
    result = run(
        "email\n"
        "a@example.com\nb@example.com\n"  # batch 1: rows 2-3
        "c@example.com\nd@example.com\n"  # batch 2: rows 4-5, fails on its second row
        "e@example.com\nbad-address\n"  # batch 3: rows 6-7
    )
    emails = set(Contact.objects.values_list("email", flat=True))
    assert emails == {"a@example.com", "b@example.com", "e@example.com"}  # c was rolled back
    assert not ConsentChange.objects.filter(contact__email="c@example.com").exists()
    assert result.status == ContactImport.Status.DONE
    assert (result.created_count, result.error_count, result.processed_rows) == (3, 3, 6)
    batch = next(entry for entry in result.errors if entry["kind"] == "batch")
    assert (batch["row"], batch["last_row"]) == (4, 5)
    assert "disk I/O error" in batch["message"]
    assert errors_by_row(result)[7]["field"] == "email"


@pytest.mark.django_db
def test_progress_is_saved_after_each_batch(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WAGTAIL_ONEONONE = {"IMPORT_BATCH_SIZE": 2, "MERGE_ON_LOGIN": False}
    seen: list[int] = []
    real = importing._save_progress

    def spy(contact_import: ContactImport, progress: Any) -> None:
        real(contact_import, progress)
        seen.append(ContactImport.objects.get(pk=contact_import.pk).processed_rows)

    monkeypatch.setattr(importing, "_save_progress", spy)
    run("email\n" + "".join(f"u{i}@example.com\n" for i in range(5)))
    assert seen == [2, 4, 5]


@pytest.mark.django_db
def test_a_second_delivery_of_the_task_does_nothing() -> None:
    result = run("email\nbob@example.com\n")
    assert importing.run_import(result.pk) is None
    assert Contact.objects.count() == 1


@pytest.mark.django_db
def test_missing_file_fails_the_import_cleanly() -> None:
    contact_import = importing.create_import(
        b"email\nbob@example.com\n", "x.csv", consent_source="s", consent_status="none"
    )
    importing.start_import(contact_import, {"0": "email"})
    contact_import.file.delete(save=False)
    result = importing.run_import(contact_import.pk)
    assert result is not None and result.status == ContactImport.Status.FAILED
    assert "no longer available" in result.failure or "No such file" in result.failure


@pytest.mark.django_db
def test_create_import_needs_a_consent_source() -> None:
    from wagtail_oneonone.exceptions import ContactValidationError

    with pytest.raises(ContactValidationError):
        importing.create_import(
            b"email\na@b.com\n", "x.csv", consent_source=" ", consent_status="none"
        )


@pytest.mark.django_db
def test_new_contacts_are_created_in_bulk_with_audited_consent_and_signals(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from wagtail_oneonone.signals import consent_changed

    announced: list[str] = []

    def receiver(sender: Any, contact: Contact, change: ConsentChange, **kwargs: Any) -> None:
        announced.append(contact.email)

    consent_changed.connect(receiver, dispatch_uid="test-import-consent")
    rows = "".join(f"n{i}@example.com,N{i}\n" for i in range(50))
    try:
        with (
            django_capture_on_commit_callbacks(execute=True),
            CaptureQueriesContext(connection) as queries,
        ):
            result = run("email,first_name\n" + rows)
    finally:
        consent_changed.disconnect(dispatch_uid="test-import-consent")
    assert result.created_count == 50
    inserts = [
        q["sql"].split()[2]
        for q in queries.captured_queries
        if q["sql"].startswith("INSERT") and "contactimport" not in q["sql"].split()[2]
    ]
    # Bulk statements (SQLite caps the parameters of one, so a few), not one per row.
    assert set(inserts) == {'"wagtail_oneonone_contact"', '"wagtail_oneonone_consentchange"'}
    assert len(inserts) <= 4
    assert (
        ConsentChange.objects.filter(source="Shop sign-up form", status="subscribed").count() == 50
    )
    assert Contact.objects.get(email="n7@example.com").first_name == "N7"
    assert sorted(announced) == sorted(f"n{i}@example.com" for i in range(50))
