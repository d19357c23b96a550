"""What a segment's live count costs: ``contacts_matching(tree).count()`` for six segments.

Usage::

    python benchmarks/segments.py [--db postgres|sqlite|both] [--contacts N --events M]

Each run builds a fresh database (a SQLite file in a temporary directory, in WAL mode; or a
scratch PostgreSQL database, ``bench_oneonone_segments`` on ``$PGHOST``/127.0.0.1, dropped
afterwards), migrates it and fills it with ``datagen.generate_shop_data()``: by default
1,000,000 contacts and 10,000,000 events on PostgreSQL, 100,000 and 1,000,000 on SQLite
(the distributions are described in benchmarks/datagen.py). The generation time is
printed. Then, at the moment the data was generated, it times ``count()`` (compiling the
rules included, as the admin's live count pays it) for:

cart        updated a cart in the last 24 hours with no order since;
dormant     no engagement for 90 days (and known for longer);
spend       spent more than £500 in all (``order_placed`` values);
birthday    birthday today or in the next 7 days;
category    viewed a product in the most popular category at least twice in the last 7
            days, and never ordered anything from it;
nested      any of: cart; category; spend and (birthday or dormant).

Every segment is counted once to warm up, then ``--repeat`` times in interleaved rounds
(so noise hits all of them alike); the median is reported. The baseline, measured in the
same rounds, is ``SELECT COUNT(*)`` over all contacts: the plain total the admin shows
beside a segment's count, and the cheapest query that visits every contact, so a ratio
says what the rules cost on top of counting contacts. For scale it also shows the count of
one event type in a window (product views in the last 7 days, from the ``(type,
occurred_at, contact)`` index alone).

Targets (the issue): each segment ≤ 1 s median on PostgreSQL at 1,000,000 contacts (10M
events) and on SQLite at 100,000 contacts (1M events). The plans rely on the event
indexes docs/segments.md lists under "Indexes and speed"; ``--explain`` prints each
segment's plan (``EXPLAIN (ANALYZE, BUFFERS)`` or SQLite's ``EXPLAIN QUERY PLAN``). The
server runs with its own settings (the benchmark changes none); on a machine with few
cores, other load moves the figures: the load average is printed with them.

``--keep`` (PostgreSQL) or ``--sqlite-path FILE`` keeps the data, and ``--reuse`` then
measures it again without generating it (migrating it first), for work on plans.

It prints a table, then as its last line ``RESULT {json}``. With ``--db both`` each
database runs in its own process and the last line holds both runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import benchkit as kit

TARGET_MS = 1000.0
#: Sizes the targets are stated at, and the defaults, per database.
SIZES = {"postgres": (1_000_000, 10_000_000), "sqlite": (100_000, 1_000_000)}
SPEND_THRESHOLD = 500
CATEGORY = "tea"  # the most popular of datagen.CATEGORIES

CART = {
    "condition": "event",
    "event_type": "cart_updated",
    "window": {"type": "last", "amount": 24, "unit": "hours"},
    "without_event": "order_placed",
}
DORMANT = {"condition": "activity", "status": "dormant", "days": 90}
SPEND = {"condition": "money", "metric": "total_spend", "operator": "gt", "value": SPEND_THRESHOLD}
BIRTHDAY = {"condition": "anniversary", "field": "birthday", "days": 7}
CATEGORY_RULES = {
    "all": [
        {
            "condition": "event",
            "event_type": "product_viewed",
            "filters": [{"property": "category", "operator": "equals", "value": CATEGORY}],
            "count_operator": "at_least",
            "count": 2,
            "window": {"type": "last", "amount": 7, "unit": "days"},
        },
        {
            "condition": "event",
            "event_type": "order_placed",
            "count_operator": "none",
            "filters": [{"property": "items.category", "operator": "equals", "value": CATEGORY}],
        },
    ]
}
#: Who to write to today: cart abandoners, tea browsers who never bought it, and big
#: spenders with a birthday coming or gone quiet (any of all of any).
NESTED = {"any": [CART, CATEGORY_RULES, {"all": [SPEND, {"any": [BIRTHDAY, DORMANT]}]}]}
SEGMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "cart": ("cart abandoners, last 24 h, no order since", CART),
    "dormant": ("dormant for 90 days", DORMANT),
    "spend": (f"spent over £{SPEND_THRESHOLD}", SPEND),
    "birthday": ("birthday in the next 7 days", BIRTHDAY),
    "category": (f"viewed {CATEGORY} twice this week, never bought it", CATEGORY_RULES),
    "nested": ("cart, category, or spend and (birthday or dormant)", NESTED),
}


def tree(rules: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "rules": rules}


# Measuring -------------------------------------------------------------------------------


def timed_ms(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return (time.perf_counter() - started) * 1000, value


def measure(now: dt.datetime, repeat: int) -> dict[str, Any]:
    """Medians (ms) and counts of every segment and both baselines, in interleaved rounds."""
    from wagtail_oneonone.models import Contact, Event
    from wagtail_oneonone.segments import contacts_matching

    week_ago = now - dt.timedelta(days=7)
    calls: dict[str, Callable[[], int]] = {
        "baseline_contacts": lambda: Contact.objects.count(),
        "baseline_events": lambda: Event.objects.filter(
            type="product_viewed", occurred_at__gte=week_ago
        ).count(),
    }
    for name, (_label, rules) in SEGMENTS.items():
        calls[name] = lambda rules=rules: contacts_matching(tree(rules), now=now).count()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    counts: dict[str, int] = {}
    for name, call in calls.items():  # warm-up: caches, plans, the first compile
        elapsed, counts[name] = timed_ms(call)
        progress_line = f"warm-up {name}: {counts[name]:,} in {elapsed:.0f} ms"
        print(f"   {progress_line}", file=sys.stderr, flush=True)
    names = list(calls)
    for round_number in range(repeat):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed, count = timed_ms(calls[name])
            assert count == counts[name], (name, count, counts[name])
            samples[name].append(elapsed)
    return {
        "medians": {name: statistics.median(values) for name, values in samples.items()},
        "samples": samples,
        "counts": counts,
    }


def captured_sql(call: Callable[[], Any]) -> list[tuple[str, Any]]:
    from django.db import connection

    statements: list[tuple[str, Any]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        call()
    return statements


def explain(now: dt.datetime) -> str:
    """Each segment's count query and its plan."""
    from django.db import connection

    from wagtail_oneonone.segments import contacts_matching

    out = []
    for name, (label, rules) in SEGMENTS.items():
        sql, params = captured_sql(
            lambda rules=rules: contacts_matching(tree(rules), now=now).count()
        )[-1]
        if connection.vendor == "postgresql":
            prefix = "EXPLAIN (ANALYZE, BUFFERS) "
        else:
            prefix = "EXPLAIN QUERY PLAN "
        with connection.cursor() as cursor:
            cursor.execute(prefix + sql, params)
            rows = cursor.fetchall()
        if connection.vendor == "postgresql":
            plan = "\n".join(row[0] for row in rows)
        else:
            plan = "\n".join(f"{row[0]:>4} {row[1]:>4} {row[3]}" for row in rows)
        out.append(f"--- {name}: {label}\n{plan}\n")
    return "\n".join(out)


def data_profile() -> dict[str, Any]:
    """A few figures that show the data's shape."""
    from django.db.models import Count

    from wagtail_oneonone.models import Contact, Event

    by_type = dict(
        Event.objects.order_by().values("type").annotate(n=Count("*")).values_list("type", "n")
    )
    per_contact = (
        Event.objects.order_by()
        .filter(contact_id__isnull=False)
        .values("contact_id")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    counts = sorted(per_contact)
    contacts = Contact.objects.count()
    with_events = len(counts)
    padded = [0] * (contacts - with_events) + counts
    return {
        "events_by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
        "contacts_without_events": contacts - with_events,
        "events_per_contact_median": statistics.median(padded) if padded else 0,
        "events_per_contact_p99": padded[int(len(padded) * 0.99)] if padded else 0,
        "events_per_contact_max": counts[-1] if counts else 0,
        "birthdays_missing": Contact.objects.filter(birthday__isnull=True).count(),
    }


def relation_sizes() -> dict[str, float]:
    """MB of the event table and of each of its indexes (PostgreSQL only)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, pg_relation_size(c.oid) / 1048576.0
            FROM pg_class c
            WHERE c.oid = 'wagtail_oneonone_event'::regclass
               OR c.oid IN (SELECT indexrelid FROM pg_index
                            WHERE indrelid = 'wagtail_oneonone_event'::regclass)
            ORDER BY 1
            """
        )
        return {name: round(float(mb), 1) for name, mb in cursor.fetchall()}


def reused_now() -> dt.datetime:
    """The moment kept data was generated at: just after its newest row."""
    from django.db.models import Max

    from wagtail_oneonone.models import Contact, Event

    newest = max(
        Event.objects.aggregate(m=Max("occurred_at"))["m"],
        Contact.objects.aggregate(m=Max("created_at"))["m"],
    )
    return newest.replace(microsecond=0) + dt.timedelta(seconds=1)


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    contacts = args.contacts or SIZES[args.db][0]
    events = args.events or SIZES[args.db][1]
    keep_sqlite = Path(args.sqlite_path).resolve() if args.sqlite_path else None
    pg = kit.pg_settings(args.pg_name, args.pg_maintenance_db)
    reuse = args.reuse and (
        (args.db == "sqlite" and keep_sqlite is not None and keep_sqlite.exists())
        or (args.db == "postgres" and _pg_database_exists(pg))
    )
    started = time.monotonic()
    prefix = "oneonone-seg-"
    with kit.scratch(args.db, pg, prefix=prefix, keep=args.keep, create=not reuse) as workdir:
        database = kit.database_settings(args.db, workdir, pg)
        if keep_sqlite is not None:
            database["NAME"] = str(keep_sqlite)
        kit.configure_django(database, WAGTAIL_ONEONONE={})
        from datagen import generate_shop_data
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0, interactive=False)
        if reuse:
            from wagtail_oneonone.models import Contact, Event

            now = reused_now()
            generation: dict[str, Any] = {"reused": True, "seconds": {}, "total_seconds": 0.0}
            contacts, events = Contact.objects.count(), Event.objects.count()
            kit.progress(args.db, f"reusing {contacts:,} contacts and {events:,} events")
        else:
            made = generate_shop_data(
                contacts,
                events,
                seed=args.seed,
                progress=partial(kit.progress, args.db),
            )
            now = made.now
            generation = {
                "reused": False,
                "seconds": {k: round(v, 1) for k, v in made.seconds.items()},
                "total_seconds": round(made.total_seconds, 1),
            }
            kit.progress(args.db, made.summary())
        server = kit.server_version()
        profile = data_profile()
        sizes = relation_sizes()
        measured = measure(now, args.repeat)
        plans = explain(now) if args.explain else ""
        connections.close_all()

    medians = measured["medians"]
    baseline = medians["baseline_contacts"]
    target_contacts = SIZES[args.db][0]
    segments = {}
    for name in SEGMENTS:
        median = medians[name]
        segments[name] = {
            "median_ms": round(median, 1),
            "ratio": round(median / baseline, 2),
            "count": measured["counts"][name],
            "runs_ms": [round(ms, 1) for ms in measured["samples"][name]],
            "target_met": median <= TARGET_MS,
        }
    result = {
        "db": args.db,
        "contacts": contacts,
        "events": events,
        "seed": args.seed,
        "now": now.isoformat(),
        "repeat": args.repeat,
        "generation": generation,
        "baseline": "SELECT COUNT(*) over contacts",
        "baseline_ms": round(baseline, 2),
        "baseline_count": measured["counts"]["baseline_contacts"],
        "product_views_7d_ms": round(medians["baseline_events"], 2),
        "product_views_7d_count": measured["counts"]["baseline_events"],
        "segments": segments,
        "target_ms": TARGET_MS,
        "target_contacts": target_contacts,
        "at_target_scale": contacts >= target_contacts,
        "all_targets_met": all(s["target_met"] for s in segments.values()),
        "profile": profile,
        "event_relation_mb": sizes,
        "wall_seconds": round(time.monotonic() - started, 1),
        "load_average": round(os.getloadavg()[0], 2),
    }
    print_table(result, server)
    if plans:
        print("\n" + plans)
    return result


def _pg_database_exists(pg: dict[str, str]) -> bool:
    import psycopg

    with psycopg.connect(
        host=pg["host"], port=pg["port"], user=pg["user"], dbname=pg["maintenance_db"]
    ) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [pg["name"]]).fetchone()
        return row is not None


def print_table(r: dict[str, Any], server: str) -> None:
    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    generation = r["generation"]
    made = (
        "reused from an earlier run"
        if generation["reused"]
        else f"generated in {generation['total_seconds']:.1f} s ("
        + ", ".join(f"{k} {v:.1f}" for k, v in generation["seconds"].items())
        + ")"
    )
    print(f"\n== {r['db']}: {server}")
    print(f"   {r['contacts']:,} contacts, {r['events']:,} events, {made}")
    profile = r["profile"]
    types = ", ".join(f"{k} {v:,}" for k, v in profile["events_by_type"].items())
    print(f"   events: {types}")
    print(
        f"   events a contact: median {profile['events_per_contact_median']:g}, "
        f"p99 {profile['events_per_contact_p99']}, max {profile['events_per_contact_max']}; "
        f"{profile['contacts_without_events']:,} contacts without events; "
        f"{profile['birthdays_missing']:,} without a birthday"
    )
    if r["event_relation_mb"]:
        sizes = ", ".join(f"{k} {v:,.0f}" for k, v in r["event_relation_mb"].items())
        print(f"   event table and indexes (MB): {sizes}")
    scale = "" if r["at_target_scale"] else f" (stated at {r['target_contacts']:,} contacts)"
    print(
        f"   medians of {r['repeat']} interleaved runs at {r['now']}; "
        f"target ≤ {TARGET_MS:.0f} ms each{scale}; load average {r['load_average']}"
    )
    rows = [
        (
            "baseline: COUNT(*) over contacts",
            f"{r['baseline_ms']:.1f} ms",
            f"{r['baseline_count']:,}",
            "1.00",
            "",
        ),
        (
            "for scale: product views, last 7 days",
            f"{r['product_views_7d_ms']:.1f} ms",
            f"{r['product_views_7d_count']:,}",
            f"{r['product_views_7d_ms'] / r['baseline_ms']:.2f}",
            "",
        ),
    ]
    for name, (label, _rules) in SEGMENTS.items():
        s = r["segments"][name]
        share = 100 * s["count"] / max(1, r["baseline_count"])
        rows.append(
            (
                f"{name}: {label}",
                f"{s['median_ms']:.1f} ms",
                f"{s['count']:,} ({share:.1f} %)",
                f"{s['ratio']:.2f}",
                met(s["target_met"]),
            )
        )
    width = max(len(row[0]) for row in rows)
    print(f"   {'':<{width}}  {'median':>11}  {'count':>18}  {'ratio':>7}")
    for label, median, count, ratio, note in rows:
        print(f"   {label:<{width}}  {median:>11}  {count:>18}  {ratio:>7}  {note}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kit.add_common_arguments(parser, pg_name="bench_oneonone_segments")
    parser.add_argument(
        "--contacts", type=int, help="default: 1,000,000 on PostgreSQL, 100,000 on SQLite"
    )
    parser.add_argument(
        "--events", type=int, help="default: 10,000,000 on PostgreSQL, 1,000,000 on SQLite"
    )
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each segment")
    parser.add_argument("--explain", action="store_true", help="print each segment's plan")
    parser.add_argument(
        "--sqlite-path", help="keep the SQLite database in this file instead of a temporary one"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the data a --keep/--sqlite-path run left (migrating it first)",
    )
    args = parser.parse_args()

    kit.print_result(__file__, args, run_one, ["all_targets_met"])


if __name__ == "__main__":
    main()
