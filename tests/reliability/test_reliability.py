"""The outbox under real workers: SIGKILL, a backend outage, races, opt-outs and replays.

PostgreSQL, django-q2's Redis broker (at-most-once: a killed worker loses its task) and
real ``qcluster`` processes; the recording backend (``backend.py``) writes each delivered
message to its own table before it returns, so what the recipients got survives any kill.
Run with ``ONEONONE_RELIABILITY=1`` (see ``conftest.py``).
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from .cluster import Report, timed, wait_until_done
from .conftest import RESULTS, Scenario
from .settings import WAGTAIL_ONEONONE as APP_SETTINGS

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

WORKERS_PER_CLUSTER = 2
#: The most messages a worker has between committing their hand-off and their outcomes.
IN_FLIGHT_PER_WORKER = min(APP_SETTINGS["SEND_BATCH_SIZE"], APP_SETTINGS["HANDOFF_GROUP_SIZE"])


def record(name: str, report: Report, timings: dict[str, float], **extra: Any) -> None:
    times = " ".join(f"{label}={seconds:.1f}s" for label, seconds in timings.items())
    details = " ".join(f"{key}={value}" for key, value in extra.items())
    line = f"{name}: {report.line()} {details} | {times}"
    RESULTS.append(line)
    print(f"\n{line}")


def assert_each_sent_once(report: Report, run: Scenario) -> None:
    problems = run.clusters.log_problems()
    assert not problems, "the workers logged errors:\n" + "\n".join(problems[:20])
    assert not report.duplicates, f"outbox ids delivered more than once: {report.duplicates}"
    assert not report.contacts_twice, f"contacts who got it twice: {report.contacts_twice}"
    assert not report.sent_undelivered, f"sent, never delivered: {report.sent_undelivered[:20]}"
    assert not report.delivered_unsent, f"delivered, yet not sent: {report.delivered_unsent}"
    assert report.wrong_recipient == 0, "a delivery went to the wrong contact or subject"


def wait_for_deliveries(run: Scenario, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while run.db.delivered() < count:
        run.clusters.check_alive()
        assert time.monotonic() < deadline, f"fewer than {count} delivered in {timeout:.0f} s"
        time.sleep(0.1)


def wake_until_working(run: Scenario, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while name not in run.clusters.working(run.db):
        if not run.db.outstanding():
            return
        assert time.monotonic() < deadline, f"the restarted cluster {name} never took work"
        run.harness("wake", count=1)
        time.sleep(1.0)


def test_a_workers_killed_mid_send_neither_lose_nor_repeat_a_message(
    scenario: Scenario, reliability_rng: random.Random
) -> None:
    """10,000 messages; a cluster SIGKILLed at random moments three times, then restarted.

    Every contact gets exactly one message, except those whose message is ``unknown``: the
    worker died between committing the hand-off and recording the outcome, so it may have
    reached the backend and is never resent. A worker hands off a group of messages at a
    time and records their outcomes together, so each kill leaves at most
    ``WORKERS_PER_CLUSTER`` groups (``IN_FLIGHT_PER_WORKER`` messages each) unknown.
    """
    run, timings = scenario, dict[str, float]()
    contacts, kills = 10_000, 3
    with timed("queue", timings):
        seeded = run.harness("seed", contacts=contacts, prefix="a")
        # On commit the app's receiver wakes the dispatcher through Redis.
        assert run.harness("queue", template=seeded["template"]) == contacts
    with timed("send", timings):
        names = ("one", "two")
        for name in names:
            run.clusters.start(name, WORKERS_PER_CLUSTER)
        run.clusters.wait_ready()
        # One wake-up per worker, so all four share the outbox from the start.
        run.harness("wake", count=len(names) * WORKERS_PER_CLUSTER)
        mid_batch = 0
        for _ in range(kills):
            time.sleep(reliability_rng.uniform(2.0, 8.0))
            assert run.db.outstanding(), "everything was sent before the kill: nothing tested"
            # Kill a cluster that holds claims at this moment, so the kill lands mid-batch.
            busy = sorted(run.clusters.working(run.db))
            mid_batch += bool(busy)
            victim = reliability_rng.choice(busy or names)
            run.clusters.kill(victim)
            time.sleep(reliability_rng.uniform(0.0, 2.0))
            run.clusters.start(victim, WORKERS_PER_CLUSTER)
            # The Redis broker is at-most-once: the killed cluster's dispatch task, and any
            # wake-up its pusher had taken, are gone with it. The restarted cluster works
            # again only when a dispatch is enqueued: in production by the every-minute
            # schedule or the next queued message's wake-up; here until it takes one (the
            # other cluster's pusher may take a wake-up first and keep it queued).
            wake_until_working(run, victim)
        wait_until_done(run.db, run.harness, timeout=300, clusters=run.clusters)
    report = Report.collect(run.db)
    totals = run.harness("dispatch_totals")
    record(
        "a. 10,000 messages, 3 SIGKILLs",
        report,
        timings,
        kills=run.clusters.kills,
        kills_mid_batch=mid_batch,
        swept_requeued=totals.get("requeued"),
        swept_unknown=totals.get("unknown"),
        lost_claims=totals.get("lost_claims"),
    )
    assert report.messages == contacts
    assert set(report.statuses) <= {"sent", "unknown"}, report.statuses
    assert_each_sent_once(report, run)
    unknown = report.statuses.get("unknown", 0)
    assert unknown <= kills * WORKERS_PER_CLUSTER * IN_FLIGHT_PER_WORKER, (
        f"{unknown} unknown after {kills} kills of {WORKERS_PER_CLUSTER} workers: more than "
        f"one hand-off group ({IN_FLIGHT_PER_WORKER}) per worker was between hand-off and sent"
    )
    # Everyone else got exactly one: sent and delivered once each, nothing lost.
    assert report.statuses.get("sent", 0) + unknown == contacts
    assert report.deliveries == report.statuses.get("sent", 0) + report.unknown_delivered


def test_b_a_backend_down_for_30_seconds_then_everything_is_sent_once(
    scenario: Scenario,
) -> None:
    """The backend refuses every call for 30 s, midway through sending, then recovers."""
    run, timings = scenario, dict[str, float]()
    contacts, outage = 1_000, 30.0
    with timed("queue", timings):
        seeded = run.harness("seed", contacts=contacts, prefix="b")
        assert run.harness("queue", template=seeded["template"]) == contacts
    with timed("send", timings):
        run.clusters.start("one", WORKERS_PER_CLUSTER)
        run.harness("wake", count=WORKERS_PER_CLUSTER)
        wait_for_deliveries(run, 50)
        run.db.backend_down_for(outage)
        down_from = run.db.value("SELECT now()")
        down_until = run.db.value("SELECT fail_until FROM reliability_backend")
        wait_until_done(run.db, run.harness, timeout=180, clusters=run.clusters)
    report = Report.collect(run.db)
    totals = run.harness("dispatch_totals")
    # A message the backend had already checked it was up for may land just after the
    # switch; one second later, nothing gets through.
    during = run.db.value(
        "SELECT count(*) FROM reliability_delivery"
        " WHERE delivered_at > %s + interval '1 second' AND delivered_at < %s",
        down_from,
        down_until,
    )
    attempts = dict(
        run.db.rows(
            "SELECT attempts, count(*) FROM wagtail_oneonone_outboxmessage GROUP BY attempts"
        )
    )
    after = run.db.value(
        "SELECT count(*) FROM reliability_delivery WHERE delivered_at > %s", down_from
    )
    record(
        "b. backend down 30 s",
        report,
        timings,
        retried=totals.get("retried"),
        attempts=attempts,
        sent_before_outage=contacts - int(after),
        accepted_while_down=during,
    )
    assert totals.get("retried"), "the outage did not reach any message"
    assert during == 0, "the backend accepted messages while down"
    assert report.statuses == {"sent": contacts}
    assert report.deliveries == contacts
    assert_each_sent_once(report, run)


def test_c_four_workers_at_once_never_send_a_message_twice(scenario: Scenario) -> None:
    """Four single-worker clusters (four machines) claim from one outbox at once."""
    run, timings = scenario, dict[str, float]()
    contacts, clusters = 2_000, 4
    with timed("queue", timings):
        seeded = run.harness("seed", contacts=contacts, prefix="c")
        assert run.harness("queue", template=seeded["template"]) == contacts
    with timed("send", timings):
        for number in range(clusters):
            run.clusters.start(f"w{number}", 1)
        run.clusters.wait_ready()
        run.harness("wake", count=2 * clusters)
        wait_until_done(run.db, run.harness, timeout=180, clusters=run.clusters)
    report = Report.collect(run.db)
    totals = run.harness("dispatch_totals")
    record("c. four workers", report, timings, lost_claims=totals.get("lost_claims"))
    assert report.statuses == {"sent": contacts}
    assert report.deliveries == contacts
    assert_each_sent_once(report, run)
    assert report.pids == clusters, "not every worker took part: no race was tested"


def test_d_contacts_who_unsubscribe_before_their_message_is_sent_never_get_it(
    scenario: Scenario,
) -> None:
    """1,000 contacts unsubscribe (one-click) while their message waits in the queue.

    The backend takes 50 ms a message here (a slow SMTP server), so that the queue lasts
    while they unsubscribe: a batch goes out far faster than 1,000 one-click unsubscribes.
    """
    run, timings = scenario, dict[str, float]()
    contacts, leaving = 3_000, 1_000
    with timed("queue", timings):
        seeded = run.harness("seed", contacts=contacts, prefix="d")
        assert run.harness("queue", template=seeded["template"]) == contacts
    run.db.backend_transfer(0.05)
    with timed("send", timings):
        run.clusters.start("one", WORKERS_PER_CLUSTER)
        run.harness("wake", count=WORKERS_PER_CLUSTER)
        wait_for_deliveries(run, 100)
        with timed("unsubscribe", timings):
            left = run.harness("unsubscribe_queued", count=leaving)
        assert len(left) == leaving, "sending finished before 1,000 could unsubscribe"
        wait_until_done(run.db, run.harness, timeout=180, clusters=run.clusters)
    report = Report.collect(run.db)
    got_it = run.db.value(
        "SELECT count(*) FROM reliability_delivery WHERE contact_id = ANY(%s)", left
    )
    skipped = dict(
        run.db.rows(
            "SELECT skip_reason, count(*) FROM wagtail_oneonone_outboxmessage"
            " WHERE contact_id = ANY(%s) GROUP BY skip_reason",
            left,
        )
    )
    record("d. 1,000 unsubscribe while queued", report, timings, skip_reasons=skipped)
    assert got_it == 0, f"{got_it} contacts got the email after unsubscribing"
    assert report.statuses == {"sent": contacts - leaving, "skipped": leaving}
    assert sum(skipped.values()) == leaving and "" not in skipped
    assert report.deliveries == contacts - leaving
    assert_each_sent_once(report, run)


def test_e_a_replayed_schedule_queues_and_sends_each_message_once(scenario: Scenario) -> None:
    """The task that queues a campaign runs twice at once, and once more while it sends."""
    run, timings = scenario, dict[str, float]()
    contacts = 2_000
    with timed("queue", timings):
        seeded = run.harness("seed", contacts=contacts, prefix="e")
    with timed("send", timings):
        for name in ("one", "two"):
            run.clusters.start(name, WORKERS_PER_CLUSTER)
        run.clusters.wait_ready()
        run.harness("replay", template=seeded["template"], times=2)
        wait_for_deliveries(run, 100)
        run.harness("replay", template=seeded["template"], times=1)
        assert run.harness("queue", template=seeded["template"]) == 0
        deadline = time.monotonic() + 60
        while len(results := run.harness("replay_results")) < 3:
            assert time.monotonic() < deadline, f"the replayed tasks did not finish: {results}"
            time.sleep(0.5)
        wait_until_done(run.db, run.harness, timeout=180, clusters=run.clusters)
    report = Report.collect(run.db)
    record(
        "e. replayed schedule",
        report,
        timings,
        queued_per_run=[result["result"] for result in results],
    )
    assert all(result["success"] for result in results), results
    assert report.messages == contacts, "the replay queued a message twice"
    assert report.statuses == {"sent": contacts}
    assert report.deliveries == contacts
    assert_each_sent_once(report, run)
