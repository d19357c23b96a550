from __future__ import annotations

import os

import pytest
from django.db import connection

ON_POSTGRES = os.environ.get("ONEONONE_TEST_DB") == "postgres"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(
        reason="needs PostgreSQL: run with ONEONONE_TEST_DB=postgres (make test-postgres)"
    )
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"
