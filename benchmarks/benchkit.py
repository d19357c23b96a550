"""What the benchmarks share: databases, Django, phases in fresh processes, measuring.

Each benchmark is a script run as ``python benchmarks/<name>.py``, so this module is
imported by its bare name from the scripts' own folder. Nothing here touches Django
before :func:`configure_django` has run.

A benchmark that runs in phases (a fresh process each, so that one phase's memory and
caches do not reach the next) calls :func:`spawn_phase` from its orchestrating process;
the phase's process calls :func:`run_phase`, which prints the phase's data as its last
line. Every benchmark ends by printing ``RESULT {json}`` through :func:`print_result`.
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import os
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
from argparse import SUPPRESS, ArgumentParser, Namespace
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PHASE_PREFIX = "PHASE "
RESULT_PREFIX = "RESULT "

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

Phase = Callable[[Namespace], dict[str, Any]]


# Databases ---------------------------------------------------------------------------------


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


@contextmanager
def scratch(
    db: str, pg: dict[str, str], *, prefix: str, keep: bool = False, create: bool = True
) -> Iterator[Path]:
    """A temporary folder (the SQLite file's) and, on PostgreSQL, the scratch database made
    afresh (unless ``create`` is false); the folder is removed afterwards, and the database
    dropped unless ``keep``."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if db == "postgres" and create:
            recreate_pg_database(pg)
        yield workdir
    finally:
        if db == "postgres" and not keep:
            recreate_pg_database(pg, create=False)
        shutil.rmtree(workdir, ignore_errors=True)


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


def server_version() -> str:
    """``PostgreSQL 16.4`` or ``SQLite 3.45.1``: the server the default connection uses."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return "PostgreSQL " + cursor.fetchone()[0]
    import sqlite3

    return "SQLite " + sqlite3.sqlite_version


def vacuum_analyze(*models: Any) -> None:
    """``VACUUM ANALYZE`` the models' tables on PostgreSQL, as autovacuum would in time."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


# Django set-up -----------------------------------------------------------------------------


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


def configure_django(
    database: dict[str, Any], *, urls: Mapping[str, str] | None = None, **overrides: Any
) -> None:
    """``settings.configure()`` from :func:`base_settings` and ``overrides``, then
    ``django.setup()``; ``urls`` (prefix: module to include) becomes the URLconf."""
    import django
    from django.conf import settings

    sys.path.insert(0, str(REPO))  # the app of this checkout, installed or not
    module = types.ModuleType("bench_urls")
    if urls is not None:
        sys.modules[module.__name__] = module
        overrides.setdefault("ROOT_URLCONF", module.__name__)
    settings.configure(**base_settings(database, **overrides))
    django.setup()
    if urls is not None:
        from django.urls import include, path

        module.urlpatterns = [path(prefix, include(target)) for prefix, target in urls.items()]  # type: ignore[attr-defined]


def configure_shop(
    database: dict[str, Any],
    *,
    oneonone: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> None:
    """Django for the benchmarks that write the example shop's emails: its names and
    addresses, the app's links under ``/email/``, and no worker woken when messages are
    queued (django_q is not installed: the benchmark does the work itself)."""
    configure_django(
        database,
        urls={"email/": "wagtail_oneonone.urls"},
        WAGTAIL_SITE_NAME="Oak & Thread",
        WAGTAILADMIN_BASE_URL="https://shop.example",
        DEFAULT_FROM_EMAIL="Oak & Thread <hello@shop.example>",
        WAGTAIL_ONEONONE={
            "BASE_URL": "https://shop.example",
            "REPLY_TO": "Jo Maker <jo@shop.example>",
            **(oneonone or {}),
        },
        **overrides,
    )
    from wagtail_oneonone.signals import messages_queued

    messages_queued.disconnect(dispatch_uid="oneonone_wake")


# Processes ---------------------------------------------------------------------------------


def add_common_arguments(
    parser: ArgumentParser, *, pg_name: str, phases: Iterable[str] = ()
) -> None:
    """``--db``, ``--seed`` and the scratch PostgreSQL database's options; with ``phases``,
    the hidden ``--phase`` and ``--workdir`` a phase's process is given."""
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--pg-name", default=pg_name)
    parser.add_argument("--pg-maintenance-db", default="postgres")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    if phases:
        parser.add_argument("--phase", choices=sorted(phases), help=SUPPRESS)
        parser.add_argument("--workdir", help=SUPPRESS)


def phase_database(args: Namespace) -> dict[str, Any]:
    """The database a phase's process works on: its ``--db``, ``--workdir`` and ``--pg-*``."""
    return database_settings(
        args.db, Path(args.workdir), pg_settings(args.pg_name, args.pg_maintenance_db)
    )


def progress(label: str, text: str) -> None:
    """A progress line on stderr (stdout carries the results)."""
    print(f"   [{label}] {text}", file=sys.stderr, flush=True)


def spawn_phase(script: str, args: Namespace, phase: str, **extra: Any) -> dict[str, Any]:
    """Run ``script`` again for ``phase`` in a fresh process and return the data it printed.

    The process gets every option in ``args`` and ``extra`` (``--name value``; a flag when
    ``True``; left out when ``None`` or ``False``), so it sees the same sizes and seed.
    Its progress on stderr goes straight through; anything else it prints is printed.
    """
    options = {**vars(args), "phase": phase, **extra}
    argv = [sys.executable, script]
    for name, value in options.items():
        if value is None or value is False:
            continue
        argv.append("--" + name.replace("_", "-"))
        if value is not True:
            argv.append(str(value))
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
    lines = proc.stdout.rstrip("\n").splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith(PHASE_PREFIX):
        print(proc.stdout)
        raise SystemExit(f"the {args.db} {phase} phase failed ({proc.returncode})")
    if lines[:-1]:
        print("\n".join(lines[:-1]))
    return json.loads(lines[-1][len(PHASE_PREFIX) :])


def run_phase(args: Namespace, phases: Mapping[str, Phase], configure: Callable[[], None]) -> None:
    """In a phase's own process: ``configure()`` Django, run ``phases[args.phase]`` and print
    its data as the last line, for :func:`spawn_phase`."""
    configure()
    data = phases[args.phase](args)
    print(PHASE_PREFIX + json.dumps(data, default=str), flush=True)


def phases(*functions: Phase) -> dict[str, Phase]:
    """``{"setup": phase_setup, ...}``: each function by its name without ``phase_``."""
    return {function.__name__.removeprefix("phase_"): function for function in functions}


def print_result(
    script: str,
    args: Namespace,
    run_one: Callable[[Namespace], dict[str, Any]],
    targets: Iterable[str],
) -> None:
    """Print the benchmark's last line, ``RESULT {json}``: ``run_one(args)``, or with
    ``--db both`` the script run for SQLite then PostgreSQL, each in its own process,
    their results in ``runs`` and whether each of ``targets`` (keys of a result) was met
    by every run that judged it (a run that did not says ``None``)."""
    if args.db != "both":
        print(RESULT_PREFIX + json.dumps(run_one(args)))
        return
    runs = []
    for db in ("sqlite", "postgres"):
        argv = [sys.executable, script, *sys.argv[1:], "--db", db]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
        lines = proc.stdout.rstrip("\n").splitlines()
        done = bool(lines) and lines[-1].startswith(RESULT_PREFIX)
        print("\n".join(lines[:-1] if done else lines))
        if proc.returncode != 0 or not done:
            raise SystemExit(f"the {db} run failed ({proc.returncode})")
        runs.append(json.loads(lines[-1][len(RESULT_PREFIX) :]))
    met = {name: all(r[name] for r in runs if r[name] is not None) for name in targets}
    print(RESULT_PREFIX + json.dumps({"db": "both", **met, "runs": runs}))


class Stopwatch:
    """The wall clock and the load average over a whole run."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.load_before = os.getloadavg()[0]

    def figures(self) -> dict[str, Any]:
        """``wall_seconds`` so far, and ``load_average`` (1 min) at the start and now."""
        return {
            "wall_seconds": round(time.monotonic() - self.started, 1),
            "load_average": [round(self.load_before, 2), round(os.getloadavg()[0], 2)],
        }


def print_profile(what: str, text: str) -> None:
    """A phase's :func:`profile_report`, under a heading saying what was profiled."""
    print(f"\n   cProfile of {what}:\n")
    print(text)


def machine_note(load_average: list[float], wall_seconds: float) -> str:
    """How busy the machine was: on a few cores, other load moves every figure."""
    return (
        f"{os.cpu_count()} CPUs; load average (1 min) {load_average[0]:.2f} at the start, "
        f"{load_average[1]:.2f} at the end; whole run {wall_seconds:.0f} s"
    )


# Measuring ---------------------------------------------------------------------------------


def current_rss_mb() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def max_rss_mb() -> float:
    """This process's peak resident memory (``ru_maxrss``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def high_water_rss_mb() -> float:
    """``VmHWM``: this process's own peak, not inherited across ``exec``."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


_VERB = re.compile(r"\s*(\w+)")
_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', re.IGNORECASE)
_PARENTHESES = re.compile(r"\([^()]*\)")


def statement_kind(sql: str) -> str:
    """``SELECT event``: the verb and the statement's own table (not a subquery's)."""
    match = _VERB.match(sql)
    verb = match[1].upper() if match else "?"
    outer = sql
    while True:  # drop subqueries and column lists, innermost first
        shorter = _PARENTHESES.sub("", outer)
        if shorter == outer:
            break
        outer = shorter
    table = _TABLE.search(outer)
    name = table[1].removeprefix("wagtail_oneonone_") if table else ""
    if verb == "SELECT" and sql.rstrip().upper().endswith(("FOR UPDATE", "SKIP LOCKED")):
        verb = "SELECT … FOR UPDATE"
    return f"{verb} {name}".strip()


class StatementCounter:
    """An ``execute_wrapper`` counting statements by kind (:func:`statement_kind`), with the
    nanoseconds spent in them: ``kinds[kind] == [count, ns]``."""

    def __init__(self) -> None:
        self.kinds: dict[str, list[int]] = {}
        self._cache: dict[str, str] = {}

    def add(self, kind: str, elapsed_ns: int) -> None:
        entry = self.kinds.setdefault(kind, [0, 0])
        entry[0] += 1
        entry[1] += elapsed_ns

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter_ns() - started
            kind = self._cache.get(sql)
            if kind is None:
                kind = statement_kind(sql)
                if len(self._cache) < 1000:
                    self._cache[sql] = kind
            self.add(kind, elapsed)

    @contextmanager
    def counting_commits(self, connection: Any) -> Iterator[None]:
        """Count statements, and time ``COMMIT`` at the end of ``atomic()`` blocks too (not a
        cursor statement). A statement outside ``atomic()`` commits inside its own timing."""
        real_commit = connection._commit

        def timed_commit() -> Any:
            started = time.perf_counter_ns()
            try:
                return real_commit()
            finally:
                self.add("COMMIT (end of atomic)", time.perf_counter_ns() - started)

        connection._commit = timed_commit
        try:
            with connection.execute_wrapper(self):
                yield
        finally:
            del connection._commit


def statement_summary(kinds: Mapping[str, list[int]]) -> dict[str, dict[str, Any]]:
    """:attr:`StatementCounter.kinds` as JSON: counts, and milliseconds, by kind."""
    return {
        "statements": {kind: count for kind, (count, _ns) in kinds.items()},
        "statement_ms": {kind: round(ns / 1e6, 1) for kind, (_count, ns) in kinds.items()},
    }


def format_statements(counts: Mapping[str, int], ms: Mapping[str, float]) -> str:
    """``UPDATE enrollment x12 340 ms; ...``, the costliest first."""
    kinds = sorted(counts, key=lambda kind: -ms[kind])
    return "; ".join(f"{kind} x{counts[kind]} {ms[kind]:.0f} ms" for kind in kinds)


@dataclass
class Timing:
    """What :func:`timed` measured."""

    statements: StatementCounter = field(default_factory=StatementCounter)
    rss_before_mb: float = 0.0
    started: float = 0.0  # time.perf_counter() as the block began
    seconds: float = 0.0
    peak_rss_mb: float = 0.0


@contextmanager
def timed(profile: cProfile.Profile | None = None) -> Iterator[Timing]:
    """Time the block, counting its statements and, given ``profile``, profiling it; with
    the RSS before it (after a collection) and the process's peak after it."""
    from django.db import connection

    gc.collect()
    timing = Timing(rss_before_mb=current_rss_mb())
    with connection.execute_wrapper(timing.statements):
        if profile:
            profile.enable()
        timing.started = time.perf_counter()
        try:
            yield timing
        finally:
            timing.seconds = time.perf_counter() - timing.started
            if profile:
                profile.disable()
    timing.peak_rss_mb = max_rss_mb()


def profile_report(
    profile: cProfile.Profile,
    *,
    cumulative: int = 30,
    tottime: int = 20,
    app_only: int = 0,
) -> str:
    """The profile's costliest functions by cumulative time (also, with ``app_only``, the
    app's own only), then by their own time."""
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(cumulative)
    if app_only:
        out.write("   The app's own functions only:\n")
        stats.sort_stats("cumulative").print_stats(r"wagtail_oneonone[/\\]", app_only)
    stats.sort_stats("tottime").print_stats(tottime)
    return out.getvalue()
