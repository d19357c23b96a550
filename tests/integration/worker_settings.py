"""A real worker on django-q2's ORM broker and a SQLite file, as the embedded default runs."""

import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["ONEONONE_WORKER_DB"],
        "OPTIONS": {
            # The web process and the worker take turns writing instead of failing.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
Q_CLUSTER = {
    "name": "oneonone-worker-test",
    "orm": "default",
    "workers": 2,
    "timeout": 30,
    "retry": 60,
    "max_attempts": 2,
    "catch_up": False,
    "poll": 0.5,
}
EMAIL_BACKEND = "tests.integration.recording.FileRecordingBackend"
WAGTAIL_ONEONONE = {
    "BASE_URL": "https://shop.example",
    "QUIET_HOURS": None,
    "FREQUENCY_CAP": None,
    "KILL_SWITCH": None,
}
