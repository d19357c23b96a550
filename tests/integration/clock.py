"""A clock a test moves forward: the real time plus the seconds written in a file.

The worker reads it through ``WAGTAIL_ONEONONE["CLOCK"]``, so "two hours later" takes a
write to the file, not two hours.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from django.utils import timezone


def now() -> dt.datetime:
    path = Path(os.environ["ONEONONE_CLOCK_FILE"])
    text = path.read_text().strip() if path.exists() else ""
    return timezone.now() + dt.timedelta(seconds=float(text or 0))
