"""Flows end to end: the example shop, a real ``qcluster`` worker, and a clock moved forward.

A shopper signs up, looks at two products, puts them in the cart and leaves. Two hours
later (by the worker's clock, moved by writing a file) the cart reminder arrives listing
them. The shopper buys; a day later the 24-hour reminder has not gone and the
post-purchase flow has thanked them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .processes import start, stop

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SHOPPER = "sam.lee@example.com"

SETUP = """
from django.core.management import call_command
call_command("load_demo", "--contacts=4", "--products=6", "--flow-days=0", "--no-admin")
from wagtail_oneonone.flows.builtin import install_builtin
for key in ("cart_abandonment", "post_purchase"):
    flow = install_builtin(key)
    flow.status = "active"
    flow.save()
print("ready")
"""

BROWSE_AND_LEAVE = """
import json
from django.test import Client
from django.urls import reverse
from example_site.shop.models import ProductPage
browser = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0")
products = list(ProductPage.objects.live().order_by("pk")[:2])
browser.post(reverse("shop:signup"), {
    "email": "Sam.Lee@example.com", "first_name": "Sam",
    "password1": "a-long-demo-passphrase", "password2": "a-long-demo-passphrase",
    "marketing_consent": "on", "time_zone": "Europe/London",
})
for product in products:
    browser.get(product.url)
browser.post(reverse("shop:cart_add"), {"product_id": products[0].pk, "quantity": 1})
browser.post(reverse("shop:cart_add"), {"product_id": products[1].pk, "quantity": 2})
print(json.dumps({
    "products": [product.title for product in products],
    "cookies": {name: morsel.value for name, morsel in browser.cookies.items()},
}))
"""

BUY = """
import json, os
from django.test import Client
from django.urls import reverse
browser = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0")
for name, value in json.loads(os.environ["SHOPPER_COOKIES"]).items():
    browser.cookies[name] = value
browser.get(reverse("shop:checkout"))
response = browser.post(reverse("shop:checkout"), {
    "email": "sam.lee@example.com", "first_name": "Sam", "last_name": "Lee",
    "time_zone": "Europe/London", "locale": "en-GB",
})
print(response.status_code)
"""

NUDGE = """
from django_q.tasks import async_task
async_task("wagtail_oneonone.tasks.run_flows")
print("nudged")
"""

STATUS = """
import json
from wagtail_oneonone.models import Enrollment
print(json.dumps([
    {"flow": builtin, "status": status, "step": step, "waiting": waiting}
    for builtin, status, step, waiting in Enrollment.objects.filter(
        contact__email="sam.lee@example.com"
    ).values_list("flow__builtin", "status", "step_id", "waiting").order_by("pk")
]))
"""


def django(env: dict[str, str], *args: str, extra: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=REPO,
        env={**env, **(extra or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def shell(env: dict[str, str], code: str, **extra: str) -> str:
    return django(env, "shell", "-c", code, extra=extra)


def received(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(what: str, check: Callable[[], Any], worker: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert worker.poll() is None, f"the worker stopped while waiting for {what}"
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_cart_reminder_then_purchase_ends_the_flow_and_starts_post_purchase(
    tmp_path: Path,
) -> None:
    clock = tmp_path / "clock"
    mailbox = tmp_path / "mail.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "tests.integration.shop_settings",
        "ONEONONE_DEMO_DB": str(tmp_path / "shop.sqlite3"),
        "ONEONONE_DEMO_MEDIA": str(tmp_path / "media"),
        "ONEONONE_CLOCK_FILE": str(clock),
        "ONEONONE_RECORD_FILE": str(mailbox),
    }
    django(env, "migrate", "--noinput", "-v0")
    assert shell(env, SETUP) == "ready"
    shopper = json.loads(shell(env, BROWSE_AND_LEAVE))
    worker = start([sys.executable, "-m", "django", "qcluster"], cwd=REPO, env=env)
    output = ""
    try:

        def enrollments() -> list[dict[str, Any]]:
            return list(json.loads(shell(env, STATUS)))

        def cart_waiting() -> bool:
            return any(e["flow"] == "cart_abandonment" and e["waiting"] for e in enrollments())

        shell(env, NUDGE)
        wait_for("the cart flow to enroll the shopper", cart_waiting, worker)
        assert [m for m in received(mailbox) if SHOPPER in m["to"][0]] == []

        clock.write_text(str(2 * 3600 + 60))  # two hours (and a minute) later
        shell(env, NUDGE)

        def reminder() -> list[dict[str, Any]]:
            return [m for m in received(mailbox) if "basket is waiting" in m["subject"]]

        [mail] = wait_for("the 2-hour cart reminder", reminder, worker)
        assert mail["to"] == ["Sam <sam.lee@example.com>"]
        assert mail["subject"] == "Sam, your basket is waiting"
        for title in shopper["products"]:
            assert title in mail["html"] and title in mail["text"]

        assert shell(env, BUY, SHOPPER_COOKIES=json.dumps(shopper["cookies"])) == "302"
        clock.write_text(str(26 * 3600))  # a day after the cart, the incentive's time
        shell(env, NUDGE)

        def thanks() -> list[dict[str, Any]]:
            return [m for m in received(mailbox) if m["subject"] == "Thank you, Sam"]

        wait_for("the post-purchase thanks", thanks, worker)
        shell(env, NUDGE)  # one more round: the 24-hour reminder would go now, if at all

        def cart_finished() -> list[dict[str, Any]]:
            return [
                e
                for e in enrollments()
                if e["flow"] == "cart_abandonment" and e["status"] == "goal"
            ]

        wait_for("the cart flow to reach its goal", cart_finished, worker)
    finally:
        output = stop(worker)
    subjects = [m["subject"] for m in received(mailbox) if SHOPPER in m["to"][0]]
    assert "A little something to help you decide" not in subjects
    assert subjects.count("Sam, your basket is waiting") == 1
    assert "Traceback" not in output, output[-3000:]
