"""An email backend that appends each delivered message to a file, durably, across processes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend


class FileRecordingBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        path = os.environ["ONEONONE_RECORD_FILE"]
        for message in email_messages:
            message.message().as_bytes()  # build the MIME, as a real backend would
            outbox_id = message.extra_headers.get("X-OneOnOne-Message", "")
            line = f"{outbox_id}\t{','.join(message.to)}\t{os.getpid()}\n".encode()
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        return len(email_messages)


class JsonRecordingBackend(BaseEmailBackend):
    """Appends each delivered message as one JSON line: its id, recipients, subject, parts."""

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        import json

        path = os.environ["ONEONONE_RECORD_FILE"]
        for message in email_messages:
            html = next(
                (
                    content
                    for content, kind in getattr(message, "alternatives", [])
                    if kind == "text/html"
                ),
                "",
            )
            line = json.dumps(
                {
                    "id": message.extra_headers.get("X-OneOnOne-Message", ""),
                    "to": list(message.to),
                    "subject": message.subject,
                    "text": message.body,
                    "html": html,
                }
            )
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, (line + "\n").encode())
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        return len(email_messages)
