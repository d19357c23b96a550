from __future__ import annotations

import os
from collections.abc import Iterator

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


@pytest.fixture(autouse=True)
def fresh_body_cache() -> Iterator[None]:
    """Built email bodies are cached by (campaign or flow id, revision, layout): a test
    database rolled back between tests gives those ids out again, so each test starts
    with none (a live site's ids are never given out twice)."""
    from wagtail_oneonone.campaigns.content import body_cache

    body_cache.clear()
    yield
    body_cache.clear()
