"""The pytest side of the reliability harness: databases, Redis, ``qcluster`` processes.

Nothing here imports Django: the test process runs under ``tests.settings``, while every
process that touches the shared database runs under ``tests.reliability.settings``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
import redis
from psycopg import sql
from psycopg.conninfo import make_conninfo

REPO = Path(__file__).resolve().parents[2]
SETTINGS = "tests.reliability.settings"
Q_NAME = "oneonone-reliability"  # Q_CLUSTER["name"] in settings.py

PG = {
    "host": os.environ.get("PGHOST", "127.0.0.1"),
    "port": os.environ.get("PGPORT", "5432"),
    "user": os.environ.get("PGUSER", "postgres"),
}
DATABASE = os.environ.get("ONEONONE_RELIABILITY_DB", "oneonone_reliability")
TEMPLATE_DATABASE = f"{DATABASE}_template"
REDIS_HOST = os.environ.get("ONEONONE_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("ONEONONE_REDIS_PORT", "6379"))
REDIS_DB = int(os.environ.get("ONEONONE_RELIABILITY_REDIS_DB", "5"))  # settings.py agrees


def redis_db(**options: Any) -> redis.Redis:
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, **options)


# Where the recording backend writes (see backend.py); created in the template database.
SCHEMA = """
CREATE TABLE reliability_delivery (
    id bigserial PRIMARY KEY,
    outbox_id bigint NOT NULL,
    contact_id bigint NOT NULL,
    recipient text NOT NULL,
    subject text NOT NULL,
    pid integer NOT NULL,
    delivered_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE reliability_backend (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    fail_until timestamptz,
    transfer_seconds double precision
);
INSERT INTO reliability_backend (id, fail_until, transfer_seconds) VALUES (1, NULL, NULL);
"""


def pg_connect(dbname: str, **options: Any) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection: every statement is committed, as the workers see it."""
    return psycopg.connect(make_conninfo("", dbname=dbname, **PG, **options), autocommit=True)


def unreachable_services() -> list[str]:
    """What of PostgreSQL and Redis cannot be reached, as readable lines."""
    problems = []
    try:
        pg_connect("postgres", connect_timeout=3).close()
    except psycopg.Error as exc:
        problems.append(f"PostgreSQL at {PG['host']}:{PG['port']}: {exc}".strip())
    try:
        redis_db(socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis at {REDIS_HOST}:{REDIS_PORT}: {exc}")
    return problems


def subprocess_env(workers: int | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "ONEONONE_RELIABILITY_DB": DATABASE,
    }
    if workers is not None:
        env["ONEONONE_RELIABILITY_WORKERS"] = str(workers)
    return env


def _admin() -> psycopg.Connection[tuple[Any, ...]]:
    return pg_connect("postgres")


def drop_database(name: str) -> None:
    with _admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def build_template_database() -> None:
    """Migrate a database once; each scenario starts from a copy of it."""
    drop_database(TEMPLATE_DATABASE)
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DATABASE)))
    env = {**subprocess_env(), "ONEONONE_RELIABILITY_DB": TEMPLATE_DATABASE}
    for args in (["migrate", "--noinput", "-v0"], ["check", "--fail-level", "ERROR"]):
        done = subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stderr}"
    with pg_connect(TEMPLATE_DATABASE) as conn:
        conn.execute(SCHEMA)


def fresh_database() -> None:
    drop_database(DATABASE)
    with _admin() as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(DATABASE), sql.Identifier(TEMPLATE_DATABASE)
            )
        )


def flush_redis() -> None:
    redis_db().flushdb()


class Database:
    """Plain autocommit queries against the scenario's database."""

    def __init__(self) -> None:
        self.conn = pg_connect(DATABASE)

    def close(self) -> None:
        self.conn.close()

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(query, params).fetchall()

    def value(self, query: str, *params: Any) -> Any:
        row = self.conn.execute(query, params).fetchone()
        return row[0] if row else None

    def statuses(self) -> dict[str, int]:
        return dict(
            self.rows(
                "SELECT status, count(*) FROM wagtail_oneonone_outboxmessage GROUP BY status"
            )
        )

    def outstanding(self) -> int:
        """Messages still queued or claimed: the outbox is not done with them."""
        return int(
            self.value(
                "SELECT count(*) FROM wagtail_oneonone_outboxmessage"
                " WHERE status IN ('queued', 'claimed')"
            )
        )

    def delivered(self) -> int:
        return int(self.value("SELECT count(*) FROM reliability_delivery"))

    def backend_down_for(self, seconds: float) -> None:
        self.conn.execute(
            "UPDATE reliability_backend SET fail_until = now() + make_interval(secs => %s)",
            (seconds,),
        )

    def backend_transfer(self, seconds: float) -> None:
        """Each message spends ``seconds`` on the wire from now on (see backend.py)."""
        self.conn.execute("UPDATE reliability_backend SET transfer_seconds = %s", (seconds,))


@dataclass
class Report:
    """What the recording backend got, checked against the outbox."""

    messages: int
    statuses: dict[str, int]
    deliveries: int
    duplicates: list[tuple[int, int]]  # (outbox id, deliveries) for ids delivered twice or more
    contacts_twice: list[tuple[int, int]]  # (contact id, deliveries) for contacts with 2+
    sent_undelivered: list[int]  # status sent, yet the backend never got it
    delivered_unsent: list[tuple[int, str]]  # (id, status) the backend got, not sent/unknown
    unknown_delivered: int
    unknown_undelivered: int
    wrong_recipient: int
    pids: int

    @classmethod
    def collect(cls, db: Database) -> Report:
        outbox = "wagtail_oneonone_outboxmessage"
        delivered = f"""
            SELECT o.id, o.status, count(d.id) AS n
            FROM {outbox} o LEFT JOIN reliability_delivery d ON d.outbox_id = o.id
            GROUP BY o.id, o.status
        """
        per_message = db.rows(delivered)
        return cls(
            messages=len(per_message),
            statuses=db.statuses(),
            deliveries=db.delivered(),
            duplicates=[(pk, n) for pk, _, n in per_message if n > 1],
            contacts_twice=db.rows(
                "SELECT contact_id, count(*) FROM reliability_delivery"
                " GROUP BY contact_id HAVING count(*) > 1"
            ),
            sent_undelivered=[pk for pk, status, n in per_message if status == "sent" and n == 0],
            delivered_unsent=[
                (pk, status)
                for pk, status, n in per_message
                if n and status not in ("sent", "unknown")
            ],
            unknown_delivered=sum(1 for _, s, n in per_message if s == "unknown" and n),
            unknown_undelivered=sum(1 for _, s, n in per_message if s == "unknown" and not n),
            # The personalised subject is the one harness.seed() writes.
            wrong_recipient=int(
                db.value(
                    f"""SELECT count(*) FROM reliability_delivery d
                    JOIN {outbox} o ON o.id = d.outbox_id
                    JOIN wagtail_oneonone_contact c ON c.id = o.contact_id
                    WHERE d.contact_id <> c.id OR position(c.email IN d.recipient) = 0
                    OR d.subject <> 'Hi ' || c.first_name || ', something for you'"""
                )
            ),
            pids=int(db.value("SELECT count(DISTINCT pid) FROM reliability_delivery")),
        )

    def line(self) -> str:
        statuses = ", ".join(f"{k}={v}" for k, v in sorted(self.statuses.items()))
        return (
            f"messages={self.messages} [{statuses}] delivered={self.deliveries} "
            f"duplicates={len(self.duplicates)} unknown={self.statuses.get('unknown', 0)} "
            f"(delivered {self.unknown_delivered}, not delivered {self.unknown_undelivered}) "
            f"sending pids={self.pids}"
        )


class Harness:
    """A long-lived Django process running ``tests/reliability/harness.py`` commands."""

    def __init__(self, log: IO[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.harness"],
            cwd=REPO,
            env=subprocess_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )

    def __call__(self, command: str, **args: Any) -> Any:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"command": command, "args": args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the harness process died during {command!r}"
        reply = json.loads(line)
        assert "error" not in reply, f"{command} failed in the harness:\n{reply['error']}"
        return reply["ok"]

    def stop(self) -> None:
        if self.process.poll() is None:
            _killpg(self.process)


def _killpg(process: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group: sentinel and workers
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


# The process groups of the clusters started, so a run killed before its teardown (a CI
# timeout) does not leave workers that would join the next run's queue.
PIDFILE = Path(tempfile.gettempdir()) / f"{DATABASE}-qclusters.pids"


def kill_leftover_clusters() -> int:
    """SIGKILL clusters an earlier run started and never stopped; returns how many."""
    killed = 0
    if PIDFILE.exists():
        for line in PIDFILE.read_text().split():
            pid = int(line)
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue  # long gone
            if b"qcluster" in command and SETTINGS.encode() in command:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                    killed += 1
    PIDFILE.write_text("")
    return killed


class Clusters:
    """Real ``manage.py qcluster`` processes, each in its own process group."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen[Any]] = {}
        self.started = 0
        self.kills = 0

    def start(self, name: str, workers: int) -> None:
        assert name not in self.running, f"cluster {name} is already running"
        self.started += 1
        with (self.log_dir / f"qcluster-{name}-{self.started}.log").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "django", "qcluster", f"--settings={SETTINGS}"],
                cwd=REPO,
                env=subprocess_env(workers),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running[name] = process
        with PIDFILE.open("a") as pids:
            pids.write(f"{process.pid}\n")

    def kill(self, name: str) -> None:
        """SIGKILL the cluster's whole process group: no cleanup, no goodbye."""
        _killpg(self.running.pop(name))
        self.kills += 1

    def stop_all(self) -> None:
        for name in list(self.running):
            _killpg(self.running.pop(name))

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every running cluster reports itself in Redis (django-q2's cluster stats)."""
        stats = redis_db()
        deadline = time.monotonic() + timeout
        while len(stats.keys(f"django_q:{Q_NAME}:cluster:*")) < len(self.running):
            self.check_alive()
            assert time.monotonic() < deadline, f"qcluster did not start (see {self.log_dir})"
            time.sleep(0.2)

    def working(self, db: Database) -> set[str]:
        """The clusters whose workers hold claims right now (``claimed_by`` names the pid)."""
        names = {process.pid: name for name, process in self.running.items()}
        busy = set()
        for (token,) in db.rows(
            "SELECT DISTINCT claimed_by FROM wagtail_oneonone_outboxmessage"
            " WHERE status = 'claimed'"
        ):
            try:  # "host:pid:uuid"; a worker's process group is its cluster's
                group = os.getpgid(int(token.rsplit(":", 2)[1]))
            except (ValueError, IndexError, ProcessLookupError):
                continue
            if group in names:
                busy.add(names[group])
        return busy

    def log_problems(self) -> list[str]:
        """Error lines the clusters logged: a dispatch task that raised, a lost broker."""
        return [
            f"{log.name}: {line.rstrip()}"
            for log in sorted(self.log_dir.glob("qcluster-*.log"))
            for line in log.read_text(errors="replace").splitlines()
            if "ERROR" in line or "Traceback" in line or "CRITICAL" in line
        ]

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.running.items() if p.poll() is not None}
        assert not dead, f"qcluster processes exited by themselves: {dead} (see {self.log_dir})"


def wait_until_done(
    db: Database,
    harness: Harness,
    *,
    timeout: float,
    wake_every: float = 4.0,
    clusters: Clusters | None = None,
    tick: Callable[[], None] | None = None,
) -> float:
    """Wait until no message is queued or claimed; returns the seconds it took.

    The app's schedule wakes the dispatcher every minute, and each run sweeps expired
    leases only when it starts; waking it every few seconds instead keeps the test short.
    """
    started = time.monotonic()
    last_wake = started
    while True:
        if tick is not None:
            tick()
        if clusters is not None:
            clusters.check_alive()
        outstanding = db.outstanding()
        elapsed = time.monotonic() - started
        if not outstanding:
            return elapsed
        assert elapsed < timeout, (
            f"{outstanding} messages still queued or claimed after {timeout:.0f} s: "
            f"{db.statuses()}"
        )
        if time.monotonic() - last_wake >= wake_every:
            harness("wake", count=1)
            last_wake = time.monotonic()
        time.sleep(0.5)


@contextlib.contextmanager
def timed(label: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        timings[label] = time.monotonic() - started
