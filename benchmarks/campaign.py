"""What queueing a campaign costs: ``schedule_campaign()`` + ``queue_campaign()`` for a
100,000-contact list, against the audience segment's own count query.

Usage::

    python benchmarks/campaign.py [--db sqlite|postgres|both] [--contacts 100000]
        [--events 300000] [--repeat 5] [--modes local,now] [--batch-size N]
        [--profile-when missed|always|never]

Each run builds a fresh database (a SQLite file in a temporary directory, in WAL mode with
``synchronous=NORMAL`` and ``transaction_mode=IMMEDIATE``; or a scratch PostgreSQL
database, ``bench_oneonone_campaign`` on ``$PGHOST``/127.0.0.1, dropped afterwards) and
works through it in phases, each a fresh process:

setup   migrate; ``datagen.generate_shop_data()`` (``--contacts`` contacts, ``--events``
        events); then each contact's time zone is set from a mix of ten IANA zones with
        20 % of contacts having none (datagen has four), spread over the ids so that
        neighbours differ; an ``EmailLayout``; the audience ``Segment``: not
        unsubscribed (consent subscribed, pending or none) and not on the suppression
        list, about 84 % of the contacts (the dispatcher checks consent at send time);
queue   one repetition of one send mode, in a process that does nothing else: the outbox
        is emptied first (``DELETE``, then ``VACUUM ANALYZE`` on PostgreSQL) so its size
        does not drift between repetitions; the **floor**, ``segment.contacts().count()``,
        once to warm up and then timed ``--floor-runs`` times; a new ``Campaign`` (a
        heading, text and a button; saved, ``save_revision().publish()``, as the tests'
        ``make_campaign`` does); then, timed, ``schedule_campaign(campaign, Schedule(...))``
        and ``queue_campaign(campaign.pk, now=...)`` until it returns with every outbox
        row written (autocommit, one transaction a batch, as a worker runs it; batches of
        ``--batch-size``, default the app's ``QUEUE_BATCH_SIZE``). Peak RSS is
        ``ru_maxrss`` of this process (as benchmarks/send.py measures it); the process
        only started Django, counted, made one campaign and queued. A counting
        ``execute_wrapper`` reports the statements queueing ran. Checked: the rows
        written equal the audience's count, ``queue_campaign()``'s return value, the
        send's ``queued`` and ``audience_size``, one row a contact; "local" rows fall
        on more than one instant and at most one a zone; "now" rows on one;
profile when a median misses its target (or with ``--profile-when always``):
        cProfile of one more "local" repetition.

Modes: ``local`` (10:00 tomorrow on each contact's own wall clock, DST-correct; each
row's time looked up by its zone) and ``now``; also ``at`` and ``spread`` (a time a row)
over 24 hours. Repetitions alternate between modes; each uses a fresh campaign (a
campaign is sent once). Medians over ``--repeat`` repetitions are reported, with the
ratio of queueing to the floor (both measured in the same processes), rows a second, and
the time per 100,000 rows at that rate (the audience is a little smaller than the list).

Targets (the issue): queueing a campaign for 100,000 contacts in ≤ 10 s on PostgreSQL;
peak RSS ≤ 300 MB. Judged on the median schedule + queue time scaled to 100,000 rows.

It prints a table, then as its last line ``RESULT {json}``. With ``--db both`` each
database runs in its own process and the last line holds both runs.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import statistics
import time
from functools import partial
from typing import Any

import benchkit as kit

TARGET_SECONDS = 10.0  # on PostgreSQL, for 100,000 contacts
TARGET_ROWS = 100_000
TARGET_RSS_MB = 300.0
#: Ten IANA zones with weights (out of 25 slots), and 5 of 25 slots (20 %) with no zone.
ZONE_SLOTS = (
    ["Europe/London"] * 6
    + ["America/New_York"] * 3
    + ["Europe/Paris"] * 2
    + ["Europe/Berlin"] * 2
    + ["America/Los_Angeles"] * 2
    + ["America/Chicago", "Australia/Sydney", "Asia/Tokyo", "Asia/Kolkata", "Pacific/Auckland"]
    + [""] * 5
)
LOCAL_TIME = dt.time(10, 0)
AUDIENCE_RULES: dict[str, Any] = {
    "all": [
        {"condition": "consent", "status": ["subscribed", "pending", "none"]},
        {"condition": "suppressed", "suppressed": False},
    ]
}
AUDIENCE_LABEL = "not unsubscribed, not suppressed"
BODY = [
    {"type": "heading", "value": {"text": "Autumn at Oak & Thread", "level": "h2"}},
    {
        "type": "rich_text",
        "value": "<p>Hello {{ contact.first_name|default('there', true) }}, the new teas "
        "are in, and the first pick is yours.</p>",
    },
    {
        "type": "button",
        "value": {"label": "See what is new", "url": "https://shop.example/new/"},
    },
]


# Django set-up ---------------------------------------------------------------------------


def configure(args: argparse.Namespace) -> None:
    kit.configure_shop(kit.phase_database(args))
    # Nothing is dispatched: a send that changes wakes no one.
    from wagtail_oneonone.signals import campaign_send_changed

    campaign_send_changed.disconnect(dispatch_uid="oneonone_campaign_send")


# Phases ----------------------------------------------------------------------------------


def phase_setup(args: argparse.Namespace) -> dict[str, Any]:
    from datagen import generate_shop_data
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count

    from wagtail_oneonone.models import Contact, EmailLayout, Segment

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrate_s = time.perf_counter() - started
    made = generate_shop_data(
        args.contacts, args.events, seed=args.seed, progress=partial(kit.progress, args.db)
    )
    kit.progress(args.db, made.summary())

    started = time.perf_counter()
    table = connection.ops.quote_name(Contact._meta.db_table)
    slots = len(ZONE_SLOTS)
    cases = " ".join(f"WHEN {slot} THEN %s" for slot in range(slots))
    with connection.cursor() as cursor:
        # Multiplying by a prime coprime to the slots spreads the zones over the ids.
        cursor.execute(
            f"UPDATE {table} SET time_zone = CASE ((id * 7919) %% {slots}) {cases} END",
            ZONE_SLOTS,
        )
    kit.vacuum_analyze(Contact)
    zones_s = time.perf_counter() - started
    zone_mix = dict(
        Contact.objects.order_by()
        .values_list("time_zone")
        .annotate(n=Count("id"))
        .values_list("time_zone", "n")
    )

    EmailLayout.objects.create(
        name="Oak & Thread",
        is_default=True,
        postal_address="Oak & Thread Ltd\n12 Mill Lane\nHebden Bridge HX7 8AB",
    )
    segment = Segment.objects.create(
        name="Everyone we may write to",
        slug="reachable",
        rules={"version": 1, "rules": AUDIENCE_RULES},
    )
    audience = segment.contacts(now=made.now).count()
    kit.progress(args.db, f"audience: {audience:,} of {made.contacts:,} contacts")
    return {
        "server": kit.server_version(),
        "migrate_seconds": migrate_s,
        "data_seconds": made.total_seconds,
        "zones_seconds": zones_s,
        "contacts": made.contacts,
        "events": made.events,
        "now": made.now.isoformat(),
        "segment_id": segment.pk,
        "audience": audience,
        "zone_mix": zone_mix,
    }


def empty_outbox() -> float:
    """Delete every outbox row (earlier repetitions'), untimed; returns seconds taken."""
    from django.db import connection

    from wagtail_oneonone.models import OutboxMessage

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(OutboxMessage._meta.db_table)}")
    # As autovacuum would, in time: dead rows and index entries made reusable.
    kit.vacuum_analyze(OutboxMessage)
    return time.perf_counter() - started


def make_campaign(segment: Any, name: str) -> Any:
    """Saved, with its first revision published (as tests/campaigns make_campaign does)."""
    from wagtail_oneonone.blocks import EmailBodyBlock
    from wagtail_oneonone.models import Campaign

    campaign = Campaign(
        name=name,
        subject="Autumn at Oak & Thread, {{ contact.first_name|default('friend', true) }}",
        preheader="New things for {{ contact.first_name|default('you', true) }}",
        reply_to="Jo Maker <jo@shop.example>",
        from_email="Oak & Thread <news@shop.example>",
        live=False,
        body=EmailBodyBlock().to_python(
            [dict(block, id=f"block-{index}") for index, block in enumerate(BODY, 1)]
        ),
    )
    campaign.audience = [segment]
    campaign.save()
    campaign.save_revision().publish()
    campaign.refresh_from_db()
    return campaign


def schedule_for(mode: str, now: dt.datetime) -> Any:
    """The send's schedule, and the moment ``queue_campaign()`` runs at (its queue_from)."""
    from wagtail_oneonone.campaigns.schedule import Schedule
    from wagtail_oneonone.conf import app_settings

    zone = app_settings.default_time_zone
    if mode == "local":
        day = (now + dt.timedelta(days=1)).date()
        return Schedule(
            mode="local",
            send_at=dt.datetime.combine(day, LOCAL_TIME, tzinfo=dt.UTC),
            local_date=day,
            local_time=LOCAL_TIME,
            default_zone=zone,
        )
    if mode == "spread":
        return Schedule(
            mode="spread", send_at=now + dt.timedelta(hours=1), spread_hours=24, default_zone=zone
        )
    if mode == "at":
        return Schedule(mode="at", send_at=now + dt.timedelta(hours=1), default_zone=zone)
    return Schedule(mode="now", send_at=now, default_zone=zone)


def batch_size(args: argparse.Namespace) -> dict[str, int]:
    """``queue_campaign()``'s ``batch_size`` when ``--batch-size`` gives one."""
    return {"batch_size": args.batch_size} if args.batch_size else {}


def timed_queue(args: argparse.Namespace, *, profile: cProfile.Profile | None = None) -> Any:
    """One repetition: floor counts, a fresh campaign, then schedule + queue, timed."""
    from wagtail_oneonone.campaigns.services import (
        QUEUE_BATCH_SIZE,
        campaign_messages,
        queue_campaign,
        schedule_campaign,
    )
    from wagtail_oneonone.models import CampaignSend, Segment

    now = dt.datetime.fromisoformat(args.now)
    emptied_s = empty_outbox()
    segment = Segment.objects.get(pk=args.segment_id)

    count = segment.contacts(now=now).count()  # warm-up: caches, the plan, the compile
    floor_ms = []
    for _ in range(args.floor_runs):
        started = time.perf_counter()
        counted = segment.contacts(now=now).count()
        floor_ms.append((time.perf_counter() - started) * 1000)
        assert counted == count, (counted, count)

    campaign = make_campaign(segment, f"Autumn news ({args.mode}, {args.rep})")
    schedule = schedule_for(args.mode, now)
    queue_at = max(now, schedule.queue_from())
    with kit.timed(profile) as timing:
        schedule_campaign(campaign, schedule, now=now)
        schedule_s = time.perf_counter() - timing.started
        created = queue_campaign(campaign.pk, now=queue_at, **batch_size(args))
    hwm_mb = kit.high_water_rss_mb()

    rows = campaign_messages(campaign.pk)
    written = rows.count()
    contacts = rows.values("contact_id").distinct().count()
    instants = rows.values("scheduled_at").distinct().count()
    send = CampaignSend.objects.get(pk=campaign.pk)
    facts = {
        "count": count,
        "created": created,
        "written": written,
        "contacts": contacts,
        "send.queued": send.queued,
        "send.audience_size": send.audience_size,
    }
    if len(set(facts.values())) != 1 or send.queue_finished_at is None:
        raise SystemExit(f"queueing did not write one row a contact: {facts}, {send.status}")
    zones = len({zone for zone in ZONE_SLOTS if zone} | {schedule.default_zone})
    if args.mode == "local" and not 1 < instants <= zones:
        raise SystemExit(f"local times fell on {instants} instants for {zones} zones")
    if args.mode in ("now", "at") and instants != 1:
        raise SystemExit(f"a {args.mode} send's rows fell on {instants} instants")
    return {
        "mode": args.mode,
        "rep": args.rep,
        "rows": written,
        "instants": instants,
        "floor_ms": floor_ms,
        "schedule_seconds": schedule_s,
        "queue_seconds": timing.seconds - schedule_s,
        "seconds": timing.seconds,
        "rss_before_mb": timing.rss_before_mb,
        "peak_rss_mb": timing.peak_rss_mb,
        "vm_hwm_mb": hwm_mb,
        "emptied_seconds": emptied_s,
        "batch_size": args.batch_size or QUEUE_BATCH_SIZE,
        "statements": timing.statements.kinds,
    }


def phase_queue(args: argparse.Namespace) -> dict[str, Any]:
    return timed_queue(args)


def phase_profile(args: argparse.Namespace) -> dict[str, Any]:
    profile = cProfile.Profile()
    result = timed_queue(args, profile=profile)
    return {
        "rows": result["rows"],
        "seconds": result["seconds"],
        "text": kit.profile_report(profile),
    }


PHASES = kit.phases(phase_setup, phase_queue, phase_profile)


# Orchestration ---------------------------------------------------------------------------


def summarise(mode: str, reps: list[dict[str, Any]], floor_ms: float, db: str) -> dict[str, Any]:
    seconds = statistics.median(rep["seconds"] for rep in reps)
    queue_s = statistics.median(rep["queue_seconds"] for rep in reps)
    schedule_s = statistics.median(rep["schedule_seconds"] for rep in reps)
    rows = reps[0]["rows"]
    rate = rows / seconds
    per_target = TARGET_ROWS / rate
    peak = max(rep["peak_rss_mb"] for rep in reps)
    return {
        "mode": mode,
        "rows": rows,
        "instants": reps[0]["instants"],
        "seconds_median": round(seconds, 3),
        "queue_seconds_median": round(queue_s, 3),
        "schedule_seconds_median": round(schedule_s, 3),
        "seconds_runs": [round(rep["seconds"], 3) for rep in reps],
        "rows_per_s": round(rate),
        "seconds_per_100k_rows": round(per_target, 2),
        "ratio": round(seconds * 1000 / floor_ms, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_rss_runs_mb": [round(rep["peak_rss_mb"], 1) for rep in reps],
        "rss_before_mb": round(statistics.median(rep["rss_before_mb"] for rep in reps), 1),
        "vm_hwm_mb": round(max(rep["vm_hwm_mb"] for rep in reps), 1),
        **kit.statement_summary(reps[0]["statements"]),
        "time_target_met": per_target <= TARGET_SECONDS if db == "postgres" else None,
        "rss_target_met": peak <= TARGET_RSS_MB,
    }


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    clock = kit.Stopwatch()
    modes = [mode for mode in args.modes.split(",") if mode]
    reps: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    profile = None
    pg = kit.pg_settings(args.pg_name, args.pg_maintenance_db)
    with kit.scratch(args.db, pg, prefix="oneonone-campaign-bench-", keep=args.keep) as workdir:
        spawn = partial(kit.spawn_phase, __file__, args, workdir=workdir)
        setup = spawn("setup")
        common = {"segment_id": setup["segment_id"], "now": setup["now"]}
        for rep in range(args.repeat):
            for mode in modes:  # interleaved, so that noise hits every mode alike
                data = spawn("queue", mode=mode, rep=rep, **common)
                reps[mode].append(data)
                kit.progress(
                    args.db,
                    f"{mode} #{rep + 1}: {data['rows']:,} rows in {data['seconds']:.2f} s "
                    f"(floor {statistics.median(data['floor_ms']):.1f} ms), "
                    f"peak RSS {data['peak_rss_mb']:.0f} MB",
                )
        floor_ms = statistics.median(
            ms for mode in modes for rep in reps[mode] for ms in rep["floor_ms"]
        )
        summaries = {mode: summarise(mode, reps[mode], floor_ms, args.db) for mode in modes}
        missed = any(
            summary["time_target_met"] is False or not summary["rss_target_met"]
            for summary in summaries.values()
        )
        if args.profile_when == "always" or (args.profile_when == "missed" and missed):
            profile = spawn("profile", mode="local", rep="profile", **common)

    floor_runs = [round(ms, 2) for mode in modes for rep in reps[mode] for ms in rep["floor_ms"]]
    result = {
        "db": args.db,
        "server": setup["server"],
        "contacts": setup["contacts"],
        "events": setup["events"],
        "audience": setup["audience"],
        "segment": AUDIENCE_LABEL,
        "repeat": args.repeat,
        "batch_size": reps[modes[0]][0]["batch_size"],
        "floor": "segment.contacts().count()",
        "floor_ms": round(floor_ms, 2),
        "floor_runs_ms": floor_runs,
        "modes": summaries,
        "at_target_scale": setup["contacts"] >= TARGET_ROWS,
        "time_target_seconds": TARGET_SECONDS,
        "rss_target_mb": TARGET_RSS_MB,
        "time_target_met": (
            all(s["time_target_met"] for s in summaries.values())
            if args.db == "postgres"
            else None
        ),
        "rss_target_met": all(s["rss_target_met"] for s in summaries.values()),
        "data_seconds": round(setup["data_seconds"], 1),
        "zone_mix": setup["zone_mix"],
        **clock.figures(),
    }
    print_table(result)
    if profile:
        what = (
            f"one 'local' schedule + queue ({profile['rows']:,} rows, {profile['seconds']:.2f} s)"
        )
        kit.print_profile(what, profile["text"])
    return result


def print_table(r: dict[str, Any]) -> None:
    def met(ok: bool | None) -> str:
        return "n/a" if ok is None else "met" if ok else "MISSED"

    print(f"\n== {r['db']}: {r['server']}")
    print(
        f"   {r['contacts']:,} contacts, {r['events']:,} events (generated in "
        f"{r['data_seconds']:.1f} s); audience {r['audience']:,} ({r['segment']}); "
        f"{len(r['zone_mix']) - 1} zones, {r['zone_mix'].get('', 0):,} contacts without one"
    )
    if not r["at_target_scale"]:
        print(
            f"   (the targets are stated at {TARGET_ROWS:,} contacts: at this size fixed costs"
            " weigh more in the time scaled to 100,000 rows)"
        )
    print(
        f"   {kit.machine_note(r['load_average'], r['wall_seconds'])}; medians of {r['repeat']} "
        f"repetitions; batches of {r['batch_size']:,}"
    )
    print(
        f"   floor: {r['floor']} {r['floor_ms']:.1f} ms (median of {len(r['floor_runs_ms'])}: "
        f"{min(r['floor_runs_ms']):.1f} to {max(r['floor_runs_ms']):.1f} ms)"
    )
    header = (
        f"   {'mode':<7} {'schedule+queue':>14} {'(schedule)':>10} {'rows/s':>9} "
        f"{'100k rows':>9} {'ratio':>8} {'peak RSS':>9}  targets (≤ {TARGET_SECONDS:.0f} s on "
        f"PostgreSQL, ≤ {TARGET_RSS_MB:.0f} MB)"
    )
    print(header)
    for mode, s in r["modes"].items():
        print(
            f"   {mode:<7} {s['seconds_median']:>12.2f} s {s['schedule_seconds_median']:>8.2f} s "
            f"{s['rows_per_s']:>9,} {s['seconds_per_100k_rows']:>7.2f} s {s['ratio']:>8.1f} "
            f"{s['peak_rss_mb']:>6.1f} MB  time {met(s['time_target_met'])}, "
            f"RSS {met(s['rss_target_met'])}"
        )
    for mode, s in r["modes"].items():
        runs = ", ".join(f"{seconds:.2f}" for seconds in s["seconds_runs"])
        rss = ", ".join(f"{mb:.0f}" for mb in s["peak_rss_runs_mb"])
        print(
            f"   {mode}: {s['rows']:,} rows on {s['instants']} instants; runs {runs} s; "
            f"peak RSS {rss} MB (before queueing {s['rss_before_mb']:.0f} MB)"
        )
        print(f"     statements: {kit.format_statements(s['statements'], s['statement_ms'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kit.add_common_arguments(parser, pg_name="bench_oneonone_campaign", phases=PHASES)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each mode")
    parser.add_argument(
        "--modes", default="local,now", help="comma-separated: local, now, at, spread"
    )
    parser.add_argument("--floor-runs", type=int, default=3, help="timed counts a repetition")
    parser.add_argument(
        "--batch-size", type=int, default=0, help="queue_campaign()'s (0: QUEUE_BATCH_SIZE)"
    )
    parser.add_argument("--profile-when", choices=["missed", "always", "never"], default="missed")
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--rep", help=argparse.SUPPRESS)
    parser.add_argument("--segment-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()

    for mode in args.modes.split(","):
        if mode and mode not in ("local", "now", "at", "spread"):
            parser.error(f"unknown mode {mode!r}")
    if args.phase:
        kit.run_phase(args, PHASES, partial(configure, args))
    else:
        kit.print_result(__file__, args, run_one, ["time_target_met", "rss_target_met"])


if __name__ == "__main__":
    main()
