"""The reliability harness: PostgreSQL, django-q2's Redis broker and real ``qcluster``s.

Every process of a run (the harness's commands and each ``qcluster``) uses these settings,
so they share one committed database and one Redis queue. The environment picks the
database, the Redis db and the workers per cluster (see ``conftest.py``).
"""

import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("ONEONONE_RELIABILITY_DB", "oneonone_reliability"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
    }
}

Q_CLUSTER = {
    "name": "oneonone-reliability",
    "redis": {
        "host": os.environ.get("ONEONONE_REDIS_HOST", "127.0.0.1"),
        "port": int(os.environ.get("ONEONONE_REDIS_PORT", "6379")),
        "db": int(os.environ.get("ONEONONE_RELIABILITY_REDIS_DB", "5")),
    },
    "sync": False,
    "workers": int(os.environ.get("ONEONONE_RELIABILITY_WORKERS", "2")),
    # A dispatch run stops claiming after 50 s; the timeout leaves room for its last batch.
    "timeout": 90,
    "retry": 120,
    "max_attempts": 1,
    "catch_up": False,
    "poll": 0.2,
    "save_limit": 0,  # keep every task result: the scenarios add up the dispatch counts
}

EMAIL_BACKEND = "tests.reliability.backend.RecordingBackend"
DEFAULT_FROM_EMAIL = "Oak & Thread <shop@shop.example>"

WAGTAIL_ONEONONE = {
    "BASE_URL": "https://shop.example",
    "QUIET_HOURS": None,
    "FREQUENCY_CAP": None,
    "KILL_SWITCH": None,
    "MERGE_ON_LOGIN": False,
    "SEND_BATCH_SIZE": int(os.environ.get("ONEONONE_RELIABILITY_BATCH", "20")),
    # Two hand-off groups a batch: a worker killed mid-send leaves at most one group unknown.
    "HANDOFF_GROUP_SIZE": int(os.environ.get("ONEONONE_RELIABILITY_GROUP", "10")),
    # Short leases, so claims of a killed worker are swept within the test.
    "LEASE_SECONDS": 6,
    "RETRY_BACKOFF_SECONDS": 1,
    # The backend is down for 30 s in one scenario: 1+2+4+8+16+32 s of backoff outlasts it.
    "MAX_SEND_ATTEMPTS": 10,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_q": {"handlers": ["console"], "level": "WARNING"},
        "wagtail_oneonone": {"handlers": ["console"], "level": "WARNING"},
    },
}
