"""An email backend for demos and staging: nothing leaves the machine.

Messages are accepted and dropped; what was "sent" is still recorded with each outbox
message, so the admin's Sent messages pages show exactly what would have gone out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger(__name__)


class CaptureEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        for message in email_messages:
            message.message()  # build the MIME, so a message a real backend would refuse fails
            logger.info("Captured (not sent) %r to %s", message.subject, ", ".join(message.to))
        return len(email_messages)
