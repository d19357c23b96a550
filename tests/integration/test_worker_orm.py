"""A real ``qcluster`` on the ORM broker sends a queued batch once each, and only once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .processes import start, stop

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

CREATE = """
from wagtail_oneonone.models import Contact, EmailTemplate
EmailTemplate.objects.create(
    name="Hello", subject="Hi {{ contact.first_name|default('there', true) }}",
    html_body="<p>Hello {{ contact.first_name }}</p>",
)
Contact.objects.bulk_create(
    Contact(email=f"w{i}@example.com", email_hash=str(i), first_name=f"W{i}",
            consent_status="subscribed")
    for i in range(COUNT)
)
"""

QUEUE = """
from wagtail_oneonone.models import Contact, EmailTemplate
from wagtail_oneonone.sending.outbox import QueuedMessage, queue_messages
template = EmailTemplate.objects.get()
print(queue_messages(
    QueuedMessage(c.pk, "template", str(template.pk), "marketing") for c in Contact.objects.all()
))
"""

STATUS = """
import json
from django.db.models import Count
from wagtail_oneonone.models import OutboxMessage
print(json.dumps(dict(OutboxMessage.objects.values_list("status").annotate(n=Count("id")))))
"""


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""  # after the shell's "objects imported" notice


def test_a_real_worker_sends_every_message_once(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "tests.integration.worker_settings",
        "ONEONONE_WORKER_DB": str(tmp_path / "db.sqlite3"),
        "ONEONONE_RECORD_FILE": str(tmp_path / "sent.tsv"),
    }
    count = 300
    run(env, "migrate", "--noinput", "-v0")
    run(env, "shell", "-c", CREATE.replace("COUNT", str(count)))
    assert run(env, "shell", "-c", QUEUE) == str(count)
    # A replayed schedule queues the same emails again: nothing new.
    assert run(env, "shell", "-c", QUEUE) == "0"
    worker = start([sys.executable, "-m", "django", "qcluster"], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 120
        status: dict[str, int] = {}
        while time.monotonic() < deadline:
            status = json.loads(run(env, "shell", "-c", STATUS))
            if set(status) == {"sent"}:
                break
            assert worker.poll() is None, worker.communicate()[0]
            time.sleep(1)
    finally:
        output = stop(worker)
    assert status == {"sent": count}, f"{status}\n{output[-3000:]}"
    lines = (tmp_path / "sent.tsv").read_text().splitlines()
    outbox_ids = [line.split("\t")[0] for line in lines]
    assert len(outbox_ids) == len(set(outbox_ids)) == count, "a message was sent twice"
    assert "Traceback" not in output, output[-3000:]


CAMPAIGN = """
from django.utils import timezone
from wagtail_oneonone.blocks import EmailBodyBlock
from wagtail_oneonone.campaigns.schedule import Schedule
from wagtail_oneonone.campaigns.services import schedule_campaign
from wagtail_oneonone.models import Campaign, EmailLayout, Segment
everyone = Segment.objects.create(
    name="Subscribers", slug="subscribers",
    rules={"version": 1, "rules": {"condition": "consent", "status": ["subscribed"]}},
)
EmailLayout.objects.create(name="Shop", is_default=True, postal_address="1 Mill Lane, Leeds")
body = EmailBodyBlock().to_python([
    {"type": "heading", "value": {"text": "Hi {{ contact.first_name }}", "level": "h2",
                                  "align": "left"}},
])
campaign = Campaign(name="News", subject="News for {{ contact.first_name }}", body=body,
                    live=False)
campaign.audience = [everyone]
campaign.save()
campaign.save_revision().publish()
schedule_campaign(campaign, Schedule(mode="now", send_at=timezone.now()))
print(campaign.pk)
"""

CAMPAIGN_STATUS = """
import json
from django.db.models import Count
from wagtail_oneonone.models import CampaignSend, OutboxMessage
statuses = dict(OutboxMessage.objects.values_list("status").annotate(n=Count("id")))
print(json.dumps({"outbox": statuses, "send": CampaignSend.objects.get().queued}))
"""


def test_a_real_worker_queues_and_sends_a_campaign_scheduled_to_go_now(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "tests.integration.worker_settings",
        "ONEONONE_WORKER_DB": str(tmp_path / "db.sqlite3"),
        "ONEONONE_RECORD_FILE": str(tmp_path / "sent.tsv"),
    }
    count = 120
    run(env, "migrate", "--noinput", "-v0")
    run(env, "shell", "-c", CREATE.replace("COUNT", str(count)))
    # Scheduling enqueues the queueing task (ORM broker); nothing is queued until a worker runs.
    run(env, "shell", "-c", CAMPAIGN)
    assert json.loads(run(env, "shell", "-c", CAMPAIGN_STATUS)) == {"outbox": {}, "send": 0}
    worker = start([sys.executable, "-m", "django", "qcluster"], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 120
        status: dict[str, object] = {}
        while time.monotonic() < deadline:
            status = json.loads(run(env, "shell", "-c", CAMPAIGN_STATUS))
            if status["outbox"] == {"sent": count}:
                break
            assert worker.poll() is None, worker.communicate()[0]
            time.sleep(1)
    finally:
        output = stop(worker)
    assert status == {"outbox": {"sent": count}, "send": count}, f"{status}\n{output[-3000:]}"
    lines = (tmp_path / "sent.tsv").read_text().splitlines()
    assert len({line.split("\t")[0] for line in lines}) == len(lines) == count
    assert "Traceback" not in output, output[-3000:]


SCHEDULES = """
from django_q.models import Schedule
print(sorted(Schedule.objects.values_list("name", flat=True)))
"""


def test_migrating_the_app_before_django_q_then_the_rest(tmp_path: Path) -> None:
    """``migrate wagtail_oneonone`` first (django_q's tables not there yet) works, and the
    full ``migrate`` after it installs the schedules."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "tests.integration.worker_settings",
        "ONEONONE_WORKER_DB": str(tmp_path / "db.sqlite3"),
        "ONEONONE_RECORD_FILE": str(tmp_path / "sent.tsv"),
    }
    run(env, "migrate", "wagtail_oneonone", "--noinput", "-v0")
    run(env, "migrate", "--noinput", "-v0")
    names = run(env, "shell", "-c", SCHEDULES)
    assert "wagtail_oneonone: run flows" in names and "wagtail_oneonone: send due email" in names
