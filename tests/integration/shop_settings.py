"""The example shop as ``make demo`` runs it, with a clock the test moves and every email
recorded to a file (on a SQLite file of the test's own)."""

import os

from example_site.settings import *  # noqa: F403
from example_site.settings import Q_CLUSTER, WAGTAIL_ONEONONE

EMAIL_BACKEND = "tests.integration.recording.JsonRecordingBackend"
Q_CLUSTER = {**Q_CLUSTER, "name": "oneonone-shop-test", "poll": 0.5}
WAGTAIL_ONEONONE = {
    **WAGTAIL_ONEONONE,
    "CLOCK": "tests.integration.clock.now",
    "BASE_URL": "https://shop.example",
    # Moving the clock by a day would otherwise land some steps in the night.
    "QUIET_HOURS": None,
}
MEDIA_ROOT = os.environ["ONEONONE_DEMO_MEDIA"]
# The shopper's requests come from Django's test client, through the shop's own views.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # noqa: F405
