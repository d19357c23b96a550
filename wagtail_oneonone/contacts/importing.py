"""CSV contact import: reading the file, mapping columns, writing contacts batch by batch.

Plain functions: the admin views call ``create_import``, ``preview_import`` and
``start_import``; the queue task calls ``run_import``. Each batch of rows is written in one
transaction, so a batch is either imported completely or not at all.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import logging
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..conf import app_settings
from ..exceptions import ContactValidationError, OneOnOneError
from ..models import ConsentChange, ConsentStatus, Contact, ContactImport, Suppression
from ..validation import email_hash, normalize_email
from .services import (
    apply_profile,
    clean_consent_status,
    clean_profile,
    set_consent,
)

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

logger = logging.getLogger(__name__)

#: Contact fields a column can be mapped to, with their labels.
IMPORT_FIELDS: dict[str, Any] = {
    "email": gettext_lazy("Email"),
    "first_name": gettext_lazy("First name"),
    "last_name": gettext_lazy("Last name"),
    "time_zone": gettext_lazy("Time zone"),
    "locale": gettext_lazy("Locale"),
    "birthday": gettext_lazy("Birthday"),
    "customer_since": gettext_lazy("Customer since"),
    "source": gettext_lazy("Sign-up source"),
}
#: A mapping target that stores the column as a custom attribute, e.g. ``attribute:shoe_size``.
ATTRIBUTE_PREFIX = "attribute:"
IGNORE = ""
PREVIEW_ROWS = 5
#: Row-level reports kept on the import; the counts stay exact beyond it.
MAX_STORED_ERRORS = 5000

# Header spellings (normalised) recognised when guessing the mapping.
_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(
        ["email", "e_mail", "email_address", "e_mail_address", "emailaddress", "mail"], "email"
    ),
    **dict.fromkeys(
        ["first_name", "firstname", "first", "given_name", "forename", "fname"], "first_name"
    ),
    **dict.fromkeys(
        ["last_name", "lastname", "last", "surname", "family_name", "lname"], "last_name"
    ),
    **dict.fromkeys(["time_zone", "timezone", "tz"], "time_zone"),
    **dict.fromkeys(["locale", "language", "lang"], "locale"),
    **dict.fromkeys(["birthday", "birth_date", "birthdate", "date_of_birth", "dob"], "birthday"),
    **dict.fromkeys(
        ["customer_since", "first_order", "first_order_date", "first_purchase"], "customer_since"
    ),
    **dict.fromkeys(["source", "signup_source", "sign_up_source"], "source"),
}

# Consent statuses an import may ask for; only these grant consent.
_GRANTING = {ConsentStatus.SUBSCRIBED, ConsentStatus.PENDING}


class ImportFileError(OneOnOneError):
    """The uploaded file cannot be imported at all (not CSV, not UTF-8, empty...)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ImportMappingError(OneOnOneError):
    """The column mapping is incomplete or contradictory."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class CsvSummary:
    """What an upload holds: its header, the number of data rows, its delimiter."""

    header: list[str]
    row_count: int
    delimiter: str


@dataclass(frozen=True)
class CsvPreview:
    header: list[str]
    rows: list[list[str]]
    guessed: list[str]


# Reading ---------------------------------------------------------------------------------


def decode_csv(data: bytes) -> str:
    """The file's text, or an ImportFileError that tells the user what to do."""
    if not data.strip():
        raise ImportFileError(_("The file is empty."))
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise ImportFileError(
            _(
                "This is a spreadsheet workbook, not a CSV file. In your spreadsheet app "
                "choose “Save as” and the “CSV UTF-8” format, then upload that file."
            )
        )
    if b"\x00" in data:
        raise ImportFileError(
            _(
                "This is not a CSV text file (it contains binary data, or is UTF-16). "
                "Save it as “CSV UTF-8” and upload it again."
            )
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            _(
                "The file is not UTF-8 text (invalid byte at position %(position)d). "
                "Save it as “CSV UTF-8” and upload it again."
            )
            % {"position": exc.start}
        ) from None


def guess_delimiter(text: str) -> str:
    """Comma, semicolon (European spreadsheets) or tab, whichever the header uses most."""
    first_line = text.split("\n", 1)[0]
    counts = {delimiter: first_line.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _reader(text: str, delimiter: str) -> CsvReader:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)


def iter_records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(row number, cells)`` for each non-blank data row; the header is row 1."""
    reader = _reader(text, delimiter)
    next(reader, None)
    for index, cells in enumerate(reader, start=2):
        if any(cell.strip() for cell in cells):
            yield index, cells


def inspect_csv(data: bytes, *, max_rows: int | None = None) -> CsvSummary:
    """Check that ``data`` is an importable CSV file and count its rows."""
    text = decode_csv(data)
    delimiter = guess_delimiter(text)
    max_rows = app_settings.IMPORT_MAX_ROWS if max_rows is None else max_rows
    reader = _reader(text, delimiter)
    count = 0
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise ImportFileError(
                _("The first row must name the columns (for example “email”), but it is empty.")
            )
        for cells in reader:
            if any(cell.strip() for cell in cells):
                count += 1
                if count > max_rows:
                    raise ImportFileError(
                        _("The file has more than %(max)d rows; split it into smaller files.")
                        % {"max": max_rows}
                    )
    except csv.Error as exc:
        raise ImportFileError(
            _("The file is not valid CSV (line %(line)d: %(error)s).")
            % {"line": reader.line_num, "error": exc}
        ) from None
    if count == 0:
        raise ImportFileError(_("The file has a header row but no contacts below it."))
    return CsvSummary(
        header=[cell.strip() for cell in header], row_count=count, delimiter=delimiter
    )


# Mapping ---------------------------------------------------------------------------------


def normalise_header(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def attribute_name_for(header: str, index: int) -> str:
    """The custom attribute a column is stored as: its header, lower case with underscores."""
    return normalise_header(header)[:100] or f"column_{index + 1}"


def guess_mapping(header: Sequence[str]) -> list[str]:
    """A target per column from the header names; unknown columns are ignored."""
    used: set[str] = set()
    guessed = []
    for name in header:
        target = _SYNONYMS.get(normalise_header(name), IGNORE)
        if target in used:
            target = IGNORE
        used.add(target)
        guessed.append(target)
    return guessed


def mapping_choices(header: Sequence[str], index: int) -> list[tuple[str, str]]:
    """The choices for one column: ignore, each contact field, or a custom attribute."""
    attribute = attribute_name_for(header[index], index)
    return [
        (IGNORE, _("Ignore this column")),
        *((name, str(label)) for name, label in IMPORT_FIELDS.items()),
        (
            f"{ATTRIBUTE_PREFIX}{attribute}",
            _("Custom attribute: %(name)s") % {"name": attribute},
        ),
    ]


def clean_mapping(header: Sequence[str], targets: Sequence[str]) -> dict[str, str]:
    """Check a target per column; returns ``{column index: target}`` for mapped columns."""
    if len(targets) != len(header):
        raise ImportMappingError(_("Choose what to do with every column."))
    mapping: dict[str, str] = {}
    seen: dict[str, int] = {}
    for index, target in enumerate(targets):
        if target == IGNORE:
            continue
        if target.startswith(ATTRIBUTE_PREFIX):
            name = target[len(ATTRIBUTE_PREFIX) :]
            if not name or len(name) > 100:
                raise ImportMappingError(_("Attribute names are 1 to 100 characters."))
        elif target not in IMPORT_FIELDS:
            raise ImportMappingError(_("%(target)r is not a contact field.") % {"target": target})
        if target in seen:
            raise ImportMappingError(
                _("Columns “%(first)s” and “%(second)s” are both mapped to %(target)s.")
                % {
                    "first": header[seen[target]],
                    "second": header[index],
                    "target": IMPORT_FIELDS.get(target, target),
                }
            )
        seen[target] = index
        mapping[str(index)] = target
    if "email" not in seen:
        raise ImportMappingError(
            _("Map one column to Email: contacts are matched by their email address.")
        )
    return mapping


# Creating and starting an import ---------------------------------------------------------


def create_import(
    data: bytes,
    filename: str,
    *,
    consent_source: str,
    consent_status: str,
    user: Any = None,
    summary: CsvSummary | None = None,
) -> ContactImport:
    """Check an upload and store it for the mapping step; raises ImportFileError.

    ``summary`` is the result of ``inspect_csv(data)`` when the caller already has it.
    """
    consent_status = clean_consent_status(consent_status, "consent_status")
    consent_source = consent_source.strip()
    if not consent_source:
        raise ContactValidationError("consent_source", "an import needs the source of consent")
    summary = summary or inspect_csv(data)
    original_name = filename.replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload.csv"
    contact_import = ContactImport(
        original_name=original_name,
        consent_source=consent_source[:200],
        consent_status=consent_status,
        total_rows=summary.row_count,
        created_by=user if getattr(user, "pk", None) else None,
    )
    # A random stored name: the user's file name never reaches the file system.
    contact_import.file.save(f"{uuid.uuid4().hex}.csv", ContentFile(data), save=False)
    contact_import.save()
    return contact_import


def _read_text(contact_import: ContactImport) -> str:
    if not contact_import.file:
        raise ImportFileError(_("The uploaded file is no longer available."))
    with contact_import.file.open("rb") as handle:
        data = handle.read()
    return decode_csv(data)


def preview_import(contact_import: ContactImport, rows: int = PREVIEW_ROWS) -> CsvPreview:
    """The header, the first rows and a guessed mapping, for the mapping step."""
    text = _read_text(contact_import)
    delimiter = guess_delimiter(text)
    header = [cell.strip() for cell in next(_reader(text, delimiter), [])]
    first = [cells for _number, cells in itertools.islice(iter_records(text, delimiter), rows)]
    return CsvPreview(header=header, rows=first, guessed=guess_mapping(header))


def start_import(contact_import: ContactImport, mapping: Mapping[str, str]) -> None:
    """Save the mapping and mark the import as queued (the caller enqueues the task)."""
    contact_import.mapping = dict(mapping)
    contact_import.status = ContactImport.Status.QUEUED
    contact_import.save(update_fields=["mapping", "status"])


def discard_import(contact_import: ContactImport) -> None:
    """Delete an import that was never started, with its file."""
    if contact_import.file:
        contact_import.file.delete(save=False)
    contact_import.delete()


def discard_stale_uploads(max_age: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Delete uploads abandoned before the mapping step (their files hold personal data)."""
    cutoff = timezone.now() - max_age
    stale = ContactImport.objects.filter(
        status=ContactImport.Status.UPLOADED, created_at__lt=cutoff
    )
    count = 0
    for contact_import in stale:
        discard_import(contact_import)
        count += 1
    return count


# Rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportRow:
    """A validated row: the normalised email and cleaned profile fields to apply."""

    number: int
    email: str
    profile: dict[str, Any]


def parse_row(
    number: int, cells: Sequence[str], mapping: Mapping[int, str], width: int
) -> ImportRow:
    """Validate one row; raises ContactValidationError naming the field at fault."""
    if len(cells) != width:
        raise ContactValidationError(
            "", f"has {len(cells)} columns but the header has {width}; the row is malformed"
        )
    values: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for index, target in mapping.items():
        raw = cells[index].strip()
        if not raw:
            continue  # an empty cell leaves the contact's value as it is
        if target.startswith(ATTRIBUTE_PREFIX):
            attributes[target[len(ATTRIBUTE_PREFIX) :]] = raw
        else:
            values[target] = raw
    if "email" not in values:
        raise ContactValidationError("email", "is empty")
    email = normalize_email(values.pop("email"))
    if attributes:
        values["attributes"] = attributes
    return ImportRow(number=number, email=email, profile=clean_profile(**values))


def consent_action(current: str | None, requested: str, *, suppressed: bool) -> str:
    """What an import does to one contact's consent: ``set``, ``keep`` or ``skip`` the row.

    ``current`` is None for a new contact. An import never resubscribes anyone who opted
    out (unsubscribed or on the suppression list) and never downgrades a subscription.
    """
    if requested in _GRANTING:
        if current == ConsentStatus.UNSUBSCRIBED or suppressed:
            return "skip"
        if current == requested or current == ConsentStatus.SUBSCRIBED:
            return "keep"
        return "set"
    if requested == ConsentStatus.UNSUBSCRIBED:
        return "keep" if current == ConsentStatus.UNSUBSCRIBED else "set"
    return "keep"  # "none" says nothing about consent: existing contacts keep theirs


# Running ---------------------------------------------------------------------------------


@dataclass
class _Progress:
    """Counters and reports for a running import, saved after every batch."""

    processed: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: email → (first row, outcome) for every contact this import wrote.
    touched: dict[str, tuple[int, str]] = field(default_factory=dict)
    saved_errors: int = 0

    def report(self, row: int, field_name: str, message: str, kind: str, **extra: Any) -> None:
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append(
                {"row": row, "field": field_name, "message": message, "kind": kind, **extra}
            )


@dataclass
class _BatchResult:
    created: int = 0
    updated: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    touched: dict[str, tuple[int, str]] = field(default_factory=dict)


def write_batch(
    rows: Sequence[ImportRow],
    *,
    consent_status: str,
    consent_source: str,
    where: str,
    actor: Any,
    touched: Mapping[str, tuple[int, str]],
) -> _BatchResult:
    """Write one batch of valid rows in a single transaction: all of it or none of it."""
    result = _BatchResult()
    now = timezone.now()
    with transaction.atomic():
        contacts = {c.email: c for c in Contact.objects.filter(email__in={r.email for r in rows})}
        suppressed: set[str] = set()
        if consent_status in _GRANTING:
            hashes = {email_hash(r.email) for r in rows}
            suppressed = set(
                Suppression.objects.filter(email_hash__in=hashes).values_list(
                    "email_hash", flat=True
                )
            )
        fresh = _create_contacts(
            rows,
            contacts,
            suppressed,
            consent_status=consent_status,
            consent_source=consent_source,
            where=where,
            actor=actor,
            at=now,
        )
        for row in rows:
            contact = contacts.get(row.email)
            previous = result.touched.get(row.email) or touched.get(row.email)
            if previous:
                result.duplicates.append((row.number, previous[0]))
            action = consent_action(
                contact.consent_status if contact else None,
                consent_status,
                suppressed=email_hash(row.email) in suppressed,
            )
            if action == "skip" or contact is None:
                reason = (
                    "the contact unsubscribed"
                    if contact and contact.consent_status == ConsentStatus.UNSUBSCRIBED
                    else "the address is on the suppression list"
                )
                result.skipped.append((row.number, reason))
                continue
            outcome = "unchanged"
            if row.email in fresh:
                fresh.discard(row.email)  # its first row: the contact was created from it
                outcome = "created"
            else:
                changed = apply_profile(contact, row.profile)
                if changed:
                    contact.save(update_fields=[*changed, "updated_at"])
                    outcome = "updated"
            if action == "set":
                change = set_consent(
                    contact,
                    consent_status,
                    source=consent_source,
                    where=where,
                    actor=actor,
                    at=now,
                )
                if change is not None and outcome == "unchanged":
                    outcome = "updated"
            _count(result, row, outcome, previous)
    return result


def _create_contacts(
    rows: Sequence[ImportRow],
    contacts: dict[str, Contact],
    suppressed: set[str],
    *,
    consent_status: str,
    consent_source: str,
    where: str,
    actor: Any,
    at: dt.datetime,
) -> set[str]:
    """Create the batch's new contacts in two statements, with the consent granted.

    Row by row, a new contact cost six statements; a list of thousands took minutes.
    Returns the emails created; ``contacts`` gains them.
    """
    from ..signals import consent_changed

    first_rows: dict[str, ImportRow] = {}
    for row in rows:
        if row.email in contacts or row.email in first_rows:
            continue
        if consent_status in _GRANTING and email_hash(row.email) in suppressed:
            continue  # skipped and reported by the caller
        first_rows[row.email] = row
    if not first_rows:
        return set()
    grant = consent_status in _GRANTING
    new = []
    for email, row in first_rows.items():
        contact = Contact(email=email, email_hash=email_hash(email), source="CSV import")
        apply_profile(contact, row.profile)
        if grant:
            contact.consent_status = consent_status
            contact.consent_source = consent_source
            contact.consent_where = where
            contact.consent_at = at
        new.append(contact)
    created = Contact.objects.bulk_create(new)
    contacts.update((contact.email, contact) for contact in created)
    if grant:
        changes = ConsentChange.objects.bulk_create(
            ConsentChange(
                contact=contact,
                status=consent_status,
                previous_status=ConsentStatus.NONE,
                source=consent_source,
                where=where,
                occurred_at=at,
                actor=actor if getattr(actor, "pk", None) else None,
            )
            for contact in created
        )

        def announce() -> None:
            for change in changes:
                consent_changed.send(sender=Contact, contact=change.contact, change=change)

        transaction.on_commit(announce)
    return set(first_rows)


def _count(
    result: _BatchResult, row: ImportRow, outcome: str, previous: tuple[int, str] | None
) -> None:
    # A contact counts once: as created, or as updated if any of its rows changed it.
    if previous is None:
        result.touched[row.email] = (row.number, outcome)
        if outcome == "created":
            result.created += 1
        elif outcome == "updated":
            result.updated += 1
    elif previous[1] == "unchanged" and outcome == "updated":
        result.touched[row.email] = (previous[0], "updated")
        result.updated += 1


def _save_progress(contact_import: ContactImport, progress: _Progress) -> None:
    fields: dict[str, Any] = {
        "processed_rows": progress.processed,
        "created_count": progress.created,
        "updated_count": progress.updated,
        "error_count": progress.failed,
    }
    if len(progress.errors) != progress.saved_errors:  # rewrite the reports only when they grew
        fields["errors"] = progress.errors
        progress.saved_errors = len(progress.errors)
    ContactImport.objects.filter(pk=contact_import.pk).update(**fields)


def _batches(
    records: Iterator[tuple[int, list[str]]], size: int
) -> Iterator[list[tuple[int, list[str]]]]:
    batch: list[tuple[int, list[str]]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _process(contact_import: ContactImport) -> _Progress:
    text = _read_text(contact_import)
    delimiter = guess_delimiter(text)
    header = next(_reader(text, delimiter), [])
    targets = [IGNORE] * len(header)
    for key, target in (contact_import.mapping or {}).items():
        if str(key).isdigit() and int(key) < len(header):
            targets[int(key)] = target
    mapping = {int(key): target for key, target in clean_mapping(header, targets).items()}
    consent_status = clean_consent_status(contact_import.consent_status or "none")
    where = f"CSV import {contact_import.original_name}"[:500]
    batch_size = max(1, int(app_settings.IMPORT_BATCH_SIZE))
    progress = _Progress()
    for batch in _batches(iter_records(text, delimiter), batch_size):
        valid: list[ImportRow] = []
        for number, cells in batch:
            try:
                valid.append(parse_row(number, cells, mapping, len(header)))
            except ContactValidationError as exc:
                progress.failed += 1
                progress.report(number, exc.field, exc.message, "error")
        if valid:
            _write_valid_rows(contact_import, valid, progress, consent_status, where)
        progress.processed += len(batch)
        _save_progress(contact_import, progress)
    return progress


def _write_valid_rows(
    contact_import: ContactImport,
    valid: list[ImportRow],
    progress: _Progress,
    consent_status: str,
    where: str,
) -> None:
    try:
        result = write_batch(
            valid,
            consent_status=consent_status,
            consent_source=contact_import.consent_source,
            where=where,
            actor=contact_import.created_by,
            touched=progress.touched,
        )
    except Exception as exc:  # the transaction rolled back: nothing of this batch is kept
        logger.exception("Contact import %s: a batch failed", contact_import.pk)
        progress.failed += len(valid)
        progress.report(
            valid[0].number,
            "",
            f"None of the {len(valid)} valid rows from row {valid[0].number} to row "
            f"{valid[-1].number} were imported: the database refused the batch ({exc}).",
            "batch",
            last_row=valid[-1].number,
        )
        return
    progress.created += result.created
    progress.updated += result.updated
    progress.touched.update(result.touched)
    for number, first in result.duplicates:
        progress.report(
            number, "email", f"same email as row {first}; this later row's values win", "duplicate"
        )
    for number, reason in result.skipped:
        progress.failed += 1
        progress.report(
            number, "consent", f"skipped: {reason}; consent was not changed", "skipped"
        )


def run_import(import_id: int) -> ContactImport | None:
    """Process a queued import; a second delivery of the same task does nothing."""
    claimed = ContactImport.objects.filter(
        pk=import_id, status=ContactImport.Status.QUEUED
    ).update(status=ContactImport.Status.RUNNING)
    if not claimed:
        logger.info("Contact import %s is not queued; nothing to do", import_id)
        return None
    contact_import = ContactImport.objects.select_related("created_by").get(pk=import_id)
    status, failure = ContactImport.Status.DONE, ""
    try:
        _process(contact_import)
    except (ImportFileError, ImportMappingError) as exc:
        status, failure = ContactImport.Status.FAILED, exc.message
    except Exception as exc:
        logger.exception("Contact import %s failed", import_id)
        status, failure = ContactImport.Status.FAILED, f"{type(exc).__name__}: {exc}"
    finally:
        # The uploaded file holds personal data: it goes as soon as the import ends.
        if contact_import.file:
            contact_import.file.delete(save=False)
    ContactImport.objects.filter(pk=import_id).update(
        status=status, failure=failure, file="", finished_at=timezone.now()
    )
    contact_import.refresh_from_db()
    return contact_import
