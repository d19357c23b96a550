"""The reliability harness runs only when asked: ``ONEONONE_RELIABILITY=1``.

It needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 (``PGHOST``/``PGPORT``,
``ONEONONE_REDIS_HOST``/``ONEONONE_REDIS_PORT`` change them), starts real ``qcluster``
processes, and takes three to four minutes on two cores. Asked for but unable to reach
either service, it fails rather than skips. See README.md.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .cluster import (
    TEMPLATE_DATABASE,
    Clusters,
    Database,
    Harness,
    build_template_database,
    drop_database,
    flush_redis,
    fresh_database,
    kill_leftover_clusters,
    unreachable_services,
)

ENABLED = os.environ.get("ONEONONE_RELIABILITY") == "1"
HERE = Path(__file__).resolve().parent
SKIP_REASON = (
    "reliability harness: set ONEONONE_RELIABILITY=1 to run it (PostgreSQL at "
    "127.0.0.1:5432, Redis at 127.0.0.1:6379, real qcluster processes, 3-4 minutes)"
)

#: One line per scenario, printed at the end of the run (``-s`` is not needed).
RESULTS: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "reliability: kills real qcluster workers on PostgreSQL + Redis "
        "(runs only with ONEONONE_RELIABILITY=1)",
    )


def _ours(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).parents


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in filter(_ours, items):
        # tests/conftest.py skips `postgres` tests unless the suite's own database is
        # PostgreSQL; this harness makes its own database, so only its switch counts.
        item.own_markers = [mark for mark in item.own_markers if mark.name != "skip"]
        if not ENABLED:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RESULTS:
        terminalreporter.section("reliability harness")
        for line in RESULTS:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def reliability_rng() -> random.Random:
    seed = int(os.environ.get("ONEONONE_RELIABILITY_SEED") or random.randrange(1 << 30))
    RESULTS.append(f"random seed {seed} (ONEONONE_RELIABILITY_SEED={seed} repeats it)")
    return random.Random(seed)


@pytest.fixture(scope="session")
def migrated_template() -> Iterator[None]:
    problems = unreachable_services()
    if problems:
        pytest.fail(
            "ONEONONE_RELIABILITY=1 but the harness cannot reach its services:\n"
            + "\n".join(problems),
            pytrace=False,
        )
    leftovers = kill_leftover_clusters()
    if leftovers:
        RESULTS.append(f"killed {leftovers} qcluster process groups left by an earlier run")
    build_template_database()
    try:
        yield
    finally:
        drop_database(TEMPLATE_DATABASE)


@dataclass
class Scenario:
    db: Database
    harness: Harness
    clusters: Clusters
    logs: Path


@pytest.fixture
def scenario(migrated_template: None, tmp_path: Path) -> Iterator[Scenario]:
    """A fresh copy of the migrated database, an empty Redis db and no worker running."""
    from .cluster import DATABASE

    fresh_database()
    flush_redis()
    log = (tmp_path / "harness.log").open("w")
    db = Database()
    harness = Harness(log)
    clusters = Clusters(tmp_path)
    try:
        yield Scenario(db, harness, clusters, tmp_path)
    finally:
        clusters.stop_all()
        harness.stop()
        db.close()
        log.close()
        flush_redis()
        if os.environ.get("ONEONONE_RELIABILITY_KEEP") != "1":
            drop_database(DATABASE)
