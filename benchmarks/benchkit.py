"""Set-up shared by the benchmarks: databases, Django settings and the server's version.

Each benchmark is a script run as ``python benchmarks/<name>.py``, so this module is
imported by its bare name from the scripts' own folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: Apps every benchmark installs; a script adds its own.
INSTALLED_APPS = [
    "wagtail_oneonone",
    "wagtail.images",  # campaigns' layouts have a logo (migration 0005 depends on it)
    "wagtail.admin",  # wagtail.images' migrations depend on it
    "wagtail.sites",
    "wagtail.users",
    "wagtail",
    "modelcluster",
    "taggit",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]


def pg_settings(name: str, maintenance_db: str = "postgres") -> dict[str, str]:
    """Where the scratch PostgreSQL database lives (PGHOST, PGPORT, PGUSER or defaults)."""
    return {
        "name": name,
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
        "maintenance_db": maintenance_db,
    }


def recreate_pg_database(pg: dict[str, str], *, create: bool = True) -> None:
    """Drop the scratch database (forcing out connections) and, with ``create``, make it anew."""
    import psycopg

    with psycopg.connect(
        host=pg["host"],
        port=pg["port"],
        user=pg["user"],
        dbname=pg["maintenance_db"],
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{pg["name"]}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{pg["name"]}"')


def database_settings(db: str, workdir: Path, pg: dict[str, str]) -> dict[str, Any]:
    """A SQLite file in WAL mode (as the embedded default runs) or the scratch PostgreSQL."""
    if db == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(workdir / "bench.sqlite3"),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": pg["name"],
        "USER": pg["user"],
        "HOST": pg["host"],
        "PORT": pg["port"],
    }


def base_settings(database: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``settings.configure()``; ``overrides`` win."""
    return {
        "DEBUG": False,
        "SECRET_KEY": "benchmark-only",
        "ALLOWED_HOSTS": ["*"],
        "USE_TZ": True,
        "TIME_ZONE": "Europe/London",
        "DATABASES": {"default": database},
        "INSTALLED_APPS": INSTALLED_APPS,
        "STATIC_URL": "/static/",
        "LOGGING_CONFIG": None,
        **overrides,
    }


def server_version() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return "PostgreSQL " + cursor.fetchone()[0]
    import sqlite3

    return "SQLite " + sqlite3.sqlite_version
