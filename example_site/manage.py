#!/usr/bin/env python
"""Django's command-line utility for the example shop; run from anywhere.

python example_site/manage.py migrate
"""

import os
import sys
from pathlib import Path

# The example site is not part of the installed package: make ``example_site`` (and a
# non-installed ``wagtail_oneonone``) importable from the repository root.
SITE_DIR = Path(__file__).resolve().parent
REPO_ROOT = SITE_DIR.parent


def main() -> None:
    # Python put this script's folder first on the path; swap it for the repository
    # root so the site's modules have one name only (``example_site.shop``, not ``shop``).
    if sys.path and Path(sys.path[0] or ".").resolve() == SITE_DIR:
        sys.path[0] = str(REPO_ROOT)
    else:
        sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
