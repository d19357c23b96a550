"""A recording email backend whose deliveries survive SIGKILL and are shared by processes.

Each delivered message is one row in ``reliability_delivery``, written over the backend's
own autocommit connection and committed before ``send_messages`` returns: a worker killed
a moment later cannot take it back. While ``reliability_backend.fail_until`` lies in the
future the backend is down: connecting is refused and an open connection drops, as an SMTP
server or an ESP's API would; ``reliability_backend.transfer_seconds``, when set, replaces
``TRANSFER_SECONDS`` (a slower server).
"""

from __future__ import annotations

import os
import smtplib
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from psycopg.conninfo import make_conninfo

#: Seconds each message spends "on the wire" before the backend accepts it, as SMTP or an
#: ESP's API would; it widens the window in which a killed worker leaves an unknown outcome.
TRANSFER_SECONDS = float(os.environ.get("ONEONONE_RELIABILITY_TRANSFER", "0.005"))

_connections: dict[int, psycopg.Connection[Any]] = {}


def _connect() -> psycopg.Connection[Any]:
    """A new autocommit connection to the database in the settings."""
    database = settings.DATABASES["default"]
    params: dict[str, Any] = {
        "dbname": database["NAME"],
        "user": database.get("USER") or "postgres",
        "host": database.get("HOST") or "127.0.0.1",
        "port": database.get("PORT") or "5432",
        "connect_timeout": 10,
    }
    return psycopg.connect(make_conninfo("", **params), autocommit=True)


def _connection() -> psycopg.Connection[Any]:
    # One per process: django-q2 forks its workers, and a socket must not cross a fork.
    pid = os.getpid()
    conn = _connections.get(pid)
    if conn is None or conn.closed:
        conn = _connections[pid] = _connect()
    return conn


def _state() -> tuple[bool, float]:
    """Whether the backend is down, and how long a message takes to go through."""
    row = (
        _connection()
        .execute("SELECT fail_until > now(), transfer_seconds FROM reliability_backend")
        .fetchone()
    )
    down, transfer = row if row else (None, None)
    return bool(down), TRANSFER_SECONDS if transfer is None else float(transfer)


class RecordingBackend(BaseEmailBackend):
    """Records every message it is given; down while ``fail_until`` is in the future."""

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.connected = False

    def open(self) -> bool:
        if self.connected:
            return False
        if _state()[0]:
            raise ConnectionRefusedError(111, "Connection refused (the test backend is down)")
        self.connected = True
        return True

    def close(self) -> None:
        self.connected = False

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        if not email_messages:
            return 0
        opened = self.open()
        try:
            down, transfer = _state()
            if down:
                self.connected = False
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed (test)")
            rows = []
            for message in email_messages:
                message.message().as_bytes()  # build the MIME, as a real backend would
                time.sleep(transfer)
                headers = message.extra_headers
                metadata = getattr(message, "metadata", None) or {}
                rows.append(
                    (
                        int(headers["X-OneOnOne-Message"]),
                        int(metadata.get("contact_id", 0)),
                        ", ".join(message.to),
                        str(message.subject),
                        os.getpid(),
                    )
                )
            with _connection().cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO reliability_delivery"
                    " (outbox_id, contact_id, recipient, subject, pid)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )
            return len(rows)
        finally:
            if opened:
                self.close()
