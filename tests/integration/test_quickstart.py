"""The quick start, tried as a new user would: ``wagtail start``, then docs/quickstart.md.

The edits applied to the generated project are read from the code blocks of
``docs/quickstart.md``, so the page and this test cannot drift apart: change a snippet
there and this test applies the new one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from http.client import HTTPResponse
from pathlib import Path

import pytest

from .processes import read_until, start, stop

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "docs" / "quickstart.md"
BIN = Path(sys.executable).parent
PYTHON = sys.executable
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"

_FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_TITLE = re.compile(r'title="(?P<title>[^"]*)"')
_STRING = re.compile(r'"([^"]+)"')


# Reading the page ------------------------------------------------------------------------


def code_blocks() -> list[tuple[str, str, str]]:
    """(language, title, body) of every fenced block in the quick start."""
    blocks = []
    for match in _FENCE.finditer(QUICKSTART.read_text()):
        info = match["info"].strip()
        title = _TITLE.search(info)
        blocks.append(
            (info.split()[0] if info else "", title["title"] if title else "", match["body"])
        )
    return blocks


def block_titled(title: str, containing: str = "") -> str:
    found = [body for _, t, body in code_blocks() if t == title and containing in body]
    assert len(found) == 1, (
        f"docs/quickstart.md: expected one block titled {title!r} with {containing!r}"
    )
    return found[0]


def shell_commands() -> list[str]:
    """Every command line in the page's ``shell`` blocks."""
    return [
        line.strip()
        for language, _, body in code_blocks()
        if language == "shell"
        for line in body.splitlines()
        if line.strip()
    ]


# Running the project ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def project_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    # `pip install wagtail-oneonone` is step 1; an editable install of this checkout
    # stands in for it. Without one, put the checkout on the path so the test still runs.
    probe = subprocess.run(
        [PYTHON, "-c", "import wagtail_oneonone"], cwd="/", env=env, capture_output=True
    )
    if probe.returncode != 0:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def manage(site: Path, env: dict[str, str], *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
        f"{result.stdout}\n{result.stderr}"
    )
    return result.stdout + result.stderr


def shell_json(site: Path, env: dict[str, str], code: str) -> object:
    out = manage(site, env, "shell", "-c", code)
    return json.loads(out.strip().splitlines()[-1])


def get(url: str, user_agent: str) -> HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})
    return urllib.request.urlopen(request, timeout=30)


def wait_until_serving(url: str, server: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            pytest.fail(f"runserver exited early ({server.returncode}):\n{output}")
        try:
            with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail("runserver did not start listening in time")


# Applying the page's steps ---------------------------------------------------------------


def add_installed_apps(settings: str) -> str:
    """Step 2: the apps the page lists, before the django.contrib apps."""
    block = block_titled("mysite/settings/base.py", "INSTALLED_APPS")
    apps = _STRING.findall(block)
    assert {"wagtail_oneonone", "django_q", "anymail"} <= set(apps)
    anchor = '    "django.contrib.admin",\n'
    assert anchor in settings
    lines = "".join(f'    "{app}",\n' for app in apps if f'"{app}"' not in settings)
    return settings.replace(anchor, lines + anchor, 1)


def add_middleware(settings: str) -> str:
    """Step 3: the middleware right after AuthenticationMiddleware, as the page shows."""
    block = block_titled("mysite/settings/base.py", "MIDDLEWARE")
    names = _STRING.findall(block)
    assert AUTH_MIDDLEWARE in names
    ours = names[names.index(AUTH_MIDDLEWARE) + 1]
    assert ours == "wagtail_oneonone.middleware.VisitorMiddleware"
    anchor = f'    "{AUTH_MIDDLEWARE}",\n'
    assert anchor in settings
    return settings.replace(anchor, f'{anchor}    "{ours}",\n', 1)


def append_settings(settings: str) -> str:
    """Step 5: the block the page says to append."""
    return settings + "\n\n" + block_titled("mysite/settings/base.py (append)")


def add_urls(urls: str) -> str:
    """Step 4: the page's line goes into the first list, after the admin's."""
    block = block_titled("mysite/urls.py", "wagtail_oneonone.urls")
    [line] = [text for text in block.splitlines() if "wagtail_oneonone.urls" in text]
    anchor = 'path("admin/", include(wagtailadmin_urls)),'
    assert anchor in urls and urls.index(anchor) < urls.index("include(wagtail_urls)")
    return urls.replace(anchor, f"{anchor}\n{line}", 1)


ADMIN_CHECK = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from wagtail_oneonone.models import Contact

user = get_user_model().objects.create_superuser("admin", "admin@example.com", "not-secret")
client = Client()
client.force_login(user)
home = client.get("/admin/").content.decode()
listing = client.get(reverse("oneonone_contact:index"))
contact = Contact.objects.get(email="EMAIL")
page = client.get(reverse("oneonone_contact:inspect", args=[contact.pk]))
from wagtail_oneonone.tracking.tokens import make_token
token = make_token(contact.pk, "unsubscribe")
unsubscribe = Client().get(reverse("wagtail_oneonone:unsubscribe", args=[token]))
print(json.dumps({
    "menu": "One-to-one" in home and "Contacts" in home,
    "list": listing.status_code,
    "listed": "EMAIL" in listing.content.decode(),
    "contact_page": page.status_code,
    "order_in_timeline": "Placed an order" in page.content.decode(),
    "unsubscribe_page": unsubscribe.status_code,
}))
"""


# The test --------------------------------------------------------------------------------


def test_quickstart_on_a_fresh_wagtail_site(tmp_path: Path) -> None:
    env = project_env()
    wagtail = BIN / "wagtail"
    assert wagtail.exists(), f"{wagtail} not found: is Wagtail installed in this venv?"
    subprocess.run(
        [str(wagtail), "start", "mysite"], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    site = tmp_path / "mysite"
    settings_file = site / "mysite" / "settings" / "base.py"

    settings = settings_file.read_text()
    settings = append_settings(add_middleware(add_installed_apps(settings)))
    settings_file.write_text(settings)
    urls_file = site / "mysite" / "urls.py"
    urls_file.write_text(add_urls(urls_file.read_text()))

    commands = shell_commands()
    assert "python manage.py migrate" in commands
    assert "python manage.py check" in commands
    assert "python manage.py qcluster" in commands
    manage(site, env, "migrate", "--noinput")
    check_output = manage(site, env, "check")
    assert "wagtail_oneonone." not in check_output, check_output
    assert "Retry and timeout are misconfigured" not in check_output, check_output

    # Step 7: the worker starts with the page's Q_CLUSTER.
    # Wait for it to say it runs (Django's start-up takes seconds on a busy machine).
    worker = start([PYTHON, "manage.py", "qcluster"], cwd=site, env=env)
    greeting = ""
    try:
        greeting = read_until(worker, "running.", timeout=90)
        assert worker.poll() is None, f"qcluster exited:\n{greeting}{stop(worker)}"
    finally:
        worker_output = greeting + stop(worker)
    assert "running." in greeting, worker_output
    assert "Traceback" not in worker_output, worker_output

    # Step 8: a browser looks at the home page; a bot does too.
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = start(
        [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=site, env=env
    )
    try:
        wait_until_serving(base_url, server, time.monotonic() + 60)
        with get(base_url + "/", BROWSER_UA) as response:
            assert response.status == 200
            cookies = response.headers.get_all("Set-Cookie") or []
        with get(base_url + "/", BOT_UA) as response:
            assert response.status == 200
    finally:
        server_output = stop(server)
    assert "Traceback" not in server_output, server_output
    visitor_cookie = [c for c in cookies if c.startswith("oneonone_vid=")]
    assert visitor_cookie, f"no visitor cookie in {cookies}"
    visitor_id = visitor_cookie[0].split(";", 1)[0].split("=", 1)[1]

    views = shell_json(
        site,
        env,
        "import json; from wagtail_oneonone.models import Event; "
        "print(json.dumps(list(Event.objects.filter(type='page_viewed')"
        ".values('contact_id', 'visitor_id', 'properties'))))",
    )
    assert isinstance(views, list)
    assert len(views) == 1, f"expected one page view (the bot's is not counted), got {views}"
    assert views[0]["contact_id"] is None
    assert views[0]["visitor_id"] == visitor_id
    assert views[0]["properties"]["url"] == "/"
    assert views[0]["properties"]["page_type"] == "home.homepage"

    # Step 8, continued: the page's track() call, run in `manage.py shell`.
    snippet = block_titled("python manage.py shell")
    email = re.search(r'email="([^"]+)"', snippet)
    assert email
    manage(site, env, "shell", "-c", snippet)
    orders = shell_json(
        site,
        env,
        "import json; from wagtail_oneonone.models import Event; "
        "print(json.dumps([[e.contact.email if e.contact else None, str(e.value), e.currency]"
        " for e in Event.objects.filter(type='order_placed')]))",
    )
    assert orders == [[email[1], "9.00", "GBP"]]

    # Step 9: the page's check command shows the order.
    check_command = next(c for c in commands if c.startswith("python manage.py shell -c"))
    argv = shlex.split(check_command)
    output = manage(site, env, *argv[2:])
    assert "order_placed" in output and email[1] in output, output

    # Step 9, continued: the admin shows the contact and the order, as the page says.
    page = QUICKSTART.read_text()
    assert "**One-to-one → Contacts**" in page
    admin = shell_json(site, env, ADMIN_CHECK.replace("EMAIL", email[1]))
    assert admin == {
        "menu": True,
        "list": 200,
        "listed": True,
        "contact_page": 200,
        "order_in_timeline": True,
        "unsubscribe_page": 200,
    }, admin
