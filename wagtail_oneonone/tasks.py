"""Queue tasks: the only module that imports django_q.

Tasks take ids and call a service; they are enqueued when the current transaction commits,
so a worker never looks for a row that is not there yet.
"""

from __future__ import annotations

from django.db import transaction
from django_q.tasks import async_task


def run_contact_import(import_id: int) -> None:
    """Process one queued CSV import."""
    from .contacts.importing import run_import

    run_import(import_id)


def enqueue_contact_import(import_id: int) -> None:
    transaction.on_commit(
        lambda: async_task(
            "wagtail_oneonone.tasks.run_contact_import",
            import_id,
            task_name=f"oneonone-contact-import-{import_id}",
        )
    )
