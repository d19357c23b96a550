"""The Django side of the reliability harness: a small command server on stdin/stdout.

``python -m tests.reliability.harness`` sets Django up with ``tests.reliability.settings``
and answers one JSON command per line with one JSON line, so a scenario pays for Django's
start once. The pytest process never imports Django models against this database: real
``qcluster`` processes must see what the harness commits, so nothing runs inside a test
transaction.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.reliability.settings")

COMMANDS: dict[str, Callable[..., Any]] = {}


def command(function: Callable[..., Any]) -> Callable[..., Any]:
    COMMANDS[function.__name__] = function
    return function


@command
def seed(contacts: int, prefix: str) -> dict[str, Any]:
    """An email template with a personalised subject and ``contacts`` subscribed contacts."""
    from django.utils import timezone

    from wagtail_oneonone.models import Contact, EmailTemplate
    from wagtail_oneonone.validation import email_hash

    template = EmailTemplate.objects.create(
        name=f"Reliability {prefix}",
        subject="Hi {{ contact.first_name|default('there', true) }}, something for you",
        preheader="A test of the outbox",
        html_body=(
            "<html><body><p>Hello {{ contact.first_name|default('there', true) }}!</p>"
            '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
        ),
    )
    now = timezone.now()
    rows = []
    for number in range(contacts):
        email = f"{prefix}{number}@example.com"
        rows.append(
            Contact(
                email=email,
                email_hash=email_hash(email),
                first_name=f"{prefix.upper()}{number}",
                consent_status="subscribed",
                consent_source="reliability harness",
                consent_at=now,
            )
        )
    Contact.objects.bulk_create(rows, batch_size=2000)
    return {"template": template.pk, "contacts": contacts}


def queue_template(template_id: int) -> int:
    """Queue the template for every contact; run as a django-q2 task by :func:`replay`."""
    from wagtail_oneonone.models import Contact
    from wagtail_oneonone.sending.outbox import QueuedMessage, queue_messages

    contacts = Contact.objects.order_by("pk").values_list("pk", flat=True).iterator()
    return queue_messages(
        QueuedMessage(pk, "template", str(template_id), "marketing") for pk in contacts
    )


@command
def queue(template: int) -> int:
    """Queue in bulk here; on commit the app's receiver wakes the dispatcher over Redis."""
    return queue_template(template)


@command
def replay(template: int, times: int) -> int:
    """The schedule that queues a campaign fires ``times`` times: each run is a real task."""
    from django_q.tasks import async_task

    for _ in range(times):
        async_task("tests.reliability.harness.queue_template", template, group="replay")
    return times


@command
def replay_results() -> list[Any]:
    from django_q.models import Task

    return [
        {"success": task.success, "result": task.result if task.success else str(task.result)}
        for task in Task.objects.filter(group="replay")
    ]


@command
def dispatch_totals() -> dict[str, Any]:
    """What the finished dispatch runs reported, added up (runs killed midway say nothing)."""
    from django_q.models import Task

    from wagtail_oneonone.tasks import DISPATCH_TASK

    totals: dict[str, Any] = {"runs": 0}
    for result in Task.objects.filter(func=DISPATCH_TASK, success=True).values_list(
        "result", flat=True
    ):
        totals["runs"] += 1
        for key, value in (result or {}).items():
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
    totals["failed_runs"] = Task.objects.filter(func=DISPATCH_TASK, success=False).count()
    return totals


@command
def wake(count: int = 1) -> int:
    """Enqueue ``count`` dispatch wake-ups through the app's own seam."""
    from wagtail_oneonone.tasks import wake_dispatcher

    for _ in range(count):
        wake_dispatcher(debounce_seconds=0)
    return count


@command
def unsubscribe_queued(count: int, chunk: int = 25) -> list[int]:
    """Unsubscribe ``count`` contacts whose message is still queued, while workers send.

    Each chunk locks still-queued rows (``SKIP LOCKED``, as the claim does), unsubscribes
    their contacts with the one-click service and commits: a worker cannot claim a row
    in between, so every one of these opt-outs happened before its message was sent.
    """
    from django.db import transaction

    from wagtail_oneonone.models import Contact, OutboxMessage, OutboxStatus
    from wagtail_oneonone.tracking.preferences import unsubscribe_contact

    done: list[int] = []
    while len(done) < count:
        with transaction.atomic():
            contact_ids = list(
                OutboxMessage.objects.filter(
                    status=OutboxStatus.QUEUED, contact__consent_status="subscribed"
                )
                .order_by("?")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("contact_id", flat=True)[: min(chunk, count - len(done))]
            )
            if not contact_ids:
                break
            for contact in Contact.objects.filter(pk__in=contact_ids):
                unsubscribe_contact(contact, source="reliability harness", where="test")
        done.extend(contact_ids)
    return done


@command
def check() -> list[str]:
    """The app's system checks under these settings (queue settings included)."""
    from django.core import checks

    return [str(message) for message in checks.run_checks() if message.is_serious()]


def serve() -> None:
    import django

    django.setup()
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            reply = {"ok": COMMANDS[request["command"]](**request.get("args", {}))}
        except Exception:
            reply = {"error": traceback.format_exc()}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
