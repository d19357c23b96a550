"""Settings for the example shop: a small Wagtail site that uses wagtail-oneonone.

Everything a developer would change lives in environment variables so ``make demo``
works without edits: ``ONEONONE_DEMO_DB`` (SQLite path), ``ONEONONE_DEMO_BASE_URL``,
``ONEONONE_DEMO_DEBUG``, ``ONEONONE_DEMO_SECRET_KEY``, ``ONEONONE_DEMO_EMAIL_BACKEND``.
"""

import os
from pathlib import Path

SITE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("ONEONONE_DEMO_SECRET_KEY", "demo-only-not-secret-change-me")
# The demo relies on runserver serving static and media files, which needs DEBUG.
DEBUG = os.environ.get("ONEONONE_DEMO_DEBUG", "1") == "1"
_HOSTS = os.environ.get("ONEONONE_DEMO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
ALLOWED_HOSTS = _HOSTS.split(",")

INSTALLED_APPS = [
    "example_site.shop",
    "wagtail_oneonone",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
    "django_q",
    "anymail",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: it sets the visitor and contact cookies that track() asks for.
    "wagtail_oneonone.middleware.VisitorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "example_site.urls"
WSGI_APPLICATION = "example_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("ONEONONE_DEMO_DB", str(SITE_DIR / "db.sqlite3")),
        "OPTIONS": {
            # The web server and the qcluster worker share this file. WAL lets readers
            # run beside the one writer; IMMEDIATE takes the write lock when a
            # transaction starts, so two writers queue (up to `timeout` seconds) instead
            # of one failing with "database is locked" halfway through.
            "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "shop:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = SITE_DIR / "static_collected"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("ONEONONE_DEMO_MEDIA", str(SITE_DIR / "media"))

DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# Wagtail
WAGTAIL_SITE_NAME = "Oak & Thread"
# Absolute URLs in emails and image renditions are built from this.
WAGTAILADMIN_BASE_URL = os.environ.get("ONEONONE_DEMO_BASE_URL", "http://127.0.0.1:8000")
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}

# Email: captured, never delivered; the admin's Sent messages show what would have gone.
# Point ONEONONE_DEMO_EMAIL_BACKEND at SMTP or an anymail backend to really send.
EMAIL_BACKEND = os.environ.get(
    "ONEONONE_DEMO_EMAIL_BACKEND", "wagtail_oneonone.backends.CaptureEmailBackend"
)
DEFAULT_FROM_EMAIL = "Oak & Thread <hello@example.com>"

# django-q2 on the same SQLite database: no Redis needed for the demo.
Q_CLUSTER = {
    "name": "oneonone-demo",
    "orm": "default",
    "workers": 1,
    "timeout": 60,
    # Must exceed timeout, or a slow task is handed out twice.
    "retry": 120,
    "max_attempts": 1,
    # Do not replay every missed schedule after the demo was stopped for a week.
    "catch_up": False,
    "poll": 1,
}

WAGTAIL_ONEONONE = {
    "DEFAULT_CURRENCY": "GBP",
    "DEFAULT_TIME_ZONE": "Europe/London",
    "REPLY_TO": "Jo at Oak & Thread <jo@example.com>",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "wagtail_oneonone": {"handlers": ["console"], "level": "INFO"},
        "example_site": {"handlers": ["console"], "level": "INFO"},
    },
}
