"""What trigger matching costs: 1,000,000 events read by ``match_new_events()`` with 20
active flows, against reading the same events; then ``advance_due()`` on what it enrolled.

Usage::

    python benchmarks/flows.py [--db sqlite|postgres|both] [--contacts N] [--events M]
        [--repeat 3] [--advance-sample 100000] [--advance-hours 6]
        [--profile-when missed|always|never] [--pg-name NAME] [--keep]

Each run builds a fresh database (a SQLite file in a temporary directory, in WAL mode with
``synchronous=NORMAL`` and ``transaction_mode=IMMEDIATE``; or a scratch PostgreSQL
database, ``bench_oneonone_flows`` on ``$PGHOST``/127.0.0.1, dropped afterwards) and works
through it in phases, each a fresh process:

setup   migrate; ``datagen.generate_shop_data()``: by default 100,000 contacts and
        1,000,000 events on PostgreSQL (20,000 and 200,000 on SQLite) over the last two
        years, the mix datagen describes. The first event of each contact who signed up
        while the log was kept becomes their ``signed_up`` (same id and time, so the log
        stays in order). Then the 20 flows of ``BUILTINS`` and ``FLOWS`` are turned on,
        ``activated_at`` a day before the first event, so every event in the log happened
        after they were on (what a live shop's stream is): property filters, counts within
        windows, entry segments, re-entry once, every time and every 3 to 30 days.
match   one repetition, in a process that does nothing else: whatever an earlier one
        left (enrollments, their log, the outbox, the cursor) is emptied first, untimed
        (``TRUNCATE`` on PostgreSQL). The **baseline**: reading the whole log in batches
        of ``MATCH_BATCH_SIZE`` as the matcher reads it (``read_log()``), timed before and
        after matching (the median of all of them is the baseline). Then, timed,
        ``match_new_events(now=...)`` until it has read the log. Checked: it read every
        event, the cursor stands at the last id with no gaps, the table holds what it said
        it enrolled, every repetition enrolled the same (a digest of every key, trigger
        event and time); post-purchase (every order) enrolled exactly the identified
        orders and the big-order flow those of £100 or more; welcome (once) no one twice;
        and a replay (the cursor moved back over the last ``--replay-events`` events)
        enrolls no one.
advance one repetition: every enrollment is put back where matching left it (not
        started, due when it entered; their log and the outbox emptied, untimed); all
        but every k-th by id are then parked (waiting until years after the clock), so
        that about ``--advance-sample`` of them are due: a sample of the whole mix, old
        and new, every flow, in a table of full size. Then, timed, ``advance_due(now=
        ...)`` with the clock ``--advance-hours`` after the last event. Checked: every
        due enrollment was advanced, none is left due, no errors, ``sent`` equals the
        outbox rows and the "sent" log lines, no step queued twice for one enrollment.
profile when the median misses the target (or with ``--profile-when always``): cProfile of
        one more match repetition.

Advancing runs each enrollment until it waits, ends or leaves: one from last year has
every wait of its flow behind it and goes through the whole flow (several emails), one
from the last hours to its first wait. The rate is enrollments advanced a second.

Peak RSS is ``ru_maxrss`` of each phase's process. A counting ``execute_wrapper`` reports
the statements each timed part ran, with their time (commits, where deferred foreign-key
checks run, are not among them). Medians over ``--repeat`` repetitions are reported,
with the ratio of matching to reading. The server runs with its own settings (the
benchmark changes none; ``autovacuum``, ``shared_buffers`` and ``synchronous_commit`` are
printed): on a machine with few cores, other load moves the figures.

Target (the issue): ≥ 5,000 events a second through matching on PostgreSQL, one worker.

It prints a table, then as its last line ``RESULT {json}``. With ``--db both`` each
database runs in its own process and the last line holds both runs.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import json
import statistics
import time
from functools import partial
from typing import Any

import benchkit as kit

TARGET_EVENTS_PER_S = 5_000.0  # on PostgreSQL, one worker
#: Default sizes per database: (contacts, events).
SIZES = {"postgres": (100_000, 1_000_000), "sqlite": (20_000, 200_000)}


# The flows ----------------------------------------------------------------------------------


def _wait(amount: int, unit: str = "hours") -> dict[str, Any]:
    return {"type": "wait", "value": {"amount": amount, "unit": unit, "until": None}}


def _email(subject: str) -> dict[str, Any]:
    body = [{"type": "rich_text", "value": "<p>Hello {{ contact.first_name }}.</p>"}]
    return {
        "type": "send_email",
        "value": {"subject": subject, "preheader": "", "body": body},
    }


def _text(prop: str, value: str, operator: str = "equals") -> dict[str, Any]:
    return {"property": prop, "type": "text", "operator": operator, "value": value}


def _flow(
    name: str,
    trigger: str,
    reentry: str | int,
    steps: list[dict[str, Any]],
    *,
    filters: list[dict[str, Any]] | None = None,
    count: tuple[int, int] | None = None,
    goal: str = "",
    **fields: Any,
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """One of ``FLOWS``: re-entry "once", "every_time" or every so many days; ``count`` is
    (events, within hours); ``entry`` names one of ``SEGMENTS``; ``fields`` are the model's."""
    fields["trigger_event_type"] = trigger
    if isinstance(reentry, int):
        fields.update(reentry="every_n_days", reentry_days=reentry)
    else:
        fields["reentry"] = reentry
    if filters:
        fields["trigger_filters"] = filters
    if count:
        fields["trigger_count"], fields["trigger_window_hours"] = count
    if goal:
        fields["goal_event_type"] = goal
    return name, fields, steps


#: Entry segments: slug: (name, rules).
SEGMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "vip": (
        "VIPs (attribute)",
        {
            "condition": "attribute",
            "attribute": "vip",
            "type": "bool",
            "operator": "is_true",
        },
    ),
    "gold": (
        "Gold tier",
        {
            "condition": "attribute",
            "attribute": "tier",
            "type": "text",
            "operator": "equals",
            "value": "gold",
        },
    ),
    "spent-500": (
        "Spent 500 or more",
        {
            "condition": "money",
            "metric": "total_spend",
            "operator": "gte",
            "value": 500,
        },
    ),
    "subscribed": ("Subscribed", {"condition": "consent", "status": ["subscribed"]}),
}
BUILTINS = ("browse_abandonment", "cart_abandonment", "post_purchase", "welcome")
ORDER = "order_placed"
#: The 16 flows besides the built-ins: name, fields, steps.
FLOWS = [
    _flow(
        "Checkout abandonment",
        "checkout_started",
        3,
        [
            _wait(1),
            _email("Need a hand with your order?"),
            _wait(1, "days"),
            _email("Still there?"),
        ],
        goal=ORDER,
    ),
    _flow(
        "Teapot browsers",
        "product_viewed",
        14,
        [_wait(1, "days"), _email("How to choose a teapot")],
        filters=[_text("category", "teapots")],
        goal=ORDER,
    ),
    _flow(
        "Big order thank-you",
        ORDER,
        "every_time",
        [_email("A big thank-you"), _wait(5, "days"), _email("How is it going?")],
        filters=[{"property": "total", "type": "number", "operator": "gte", "value": 100}],
    ),
    _flow(
        "Tea lovers' brewing guide",
        ORDER,
        "once",
        [_wait(2, "days"), _email("Brewing the perfect cup")],
        filters=[_text("items.category", "tea")],
    ),
    _flow(
        "Engaged browser",
        "page_viewed",
        30,
        [_wait(2), _email("You seem to like it here")],
        count=(5, 24),
    ),
    _flow(
        "VIP carts",
        "cart_updated",
        7,
        [_wait(1), _email("Your basket, with free delivery")],
        entry="vip",
        goal=ORDER,
    ),
    _flow(
        "Clicked, did not buy",
        "email_clicked",
        7,
        [
            _wait(1, "days"),
            {
                "type": "branch",
                "value": {
                    "label": "cart_updated since?",
                    "condition": [
                        {
                            "type": "event_since_entry",
                            "value": {"event_type": "cart_updated"},
                        }
                    ],
                    "yes": [{"type": "end", "value": None}],
                    "no": [_email("Anything we can help with?")],
                },
            },
        ],
        goal=ORDER,
    ),
    _flow(
        "Replies to a person",
        "email_replied",
        "every_time",
        [
            {
                "type": "notify",
                "value": {
                    "to": "owner@example.com",
                    "message": "{{ contact.email }} replied.",
                },
            }
        ],
        kind="transactional",
    ),
    _flow(
        "Removed from the basket",
        "cart_updated",
        7,
        [_wait(3), _email("Changed your mind?")],
        filters=[_text("action", "removed")],
        goal=ORDER,
    ),
    _flow(
        "Coffee, three looks in three days",
        "product_viewed",
        14,
        [_wait(2), _email("Our coffee guide")],
        filters=[_text("category", "coffee")],
        count=(3, 72),
        goal=ORDER,
    ),
    _flow(
        "Gold tier checkouts",
        "checkout_started",
        3,
        [_email("Your gold benefits apply")],
        entry="gold",
        goal=ORDER,
    ),
    _flow(
        "Big spenders' orders",
        ORDER,
        30,
        [_wait(1, "days"), _email("A note from the founder")],
        entry="spent-500",
    ),
    _flow(
        "Sale hunters",
        "product_viewed",
        7,
        [_wait(4), _email("More in the sale")],
        filters=[_text("category", "sale")],
        goal=ORDER,
    ),
    _flow(
        "Regular readers",
        "email_opened",
        "once",
        [
            {
                "type": "update_contact",
                "value": {"action": "add_tag", "name": "engaged", "value": ""},
            }
        ],
        count=(3, 168),
    ),
    _flow(
        "Large baskets",
        "cart_updated",
        3,
        [_wait(1), _email("Free delivery on your basket")],
        filters=[
            {
                "property": "cart_total",
                "type": "number",
                "operator": "gte",
                "value": 100,
            }
        ],
        goal=ORDER,
    ),
    _flow(
        "Subscribers reading the journal",
        "page_viewed",
        30,
        [_wait(1, "days"), _email("More from the journal")],
        filters=[_text("url", "/pages/1", "starts_with")],
        entry="subscribed",
    ),
]


def install_flows(activated_at: dt.datetime) -> list[dict[str, Any]]:
    """The 20 flows, active since ``activated_at``; returns what each is."""
    from wagtail_oneonone.flows.blocks import FlowStepsBlock
    from wagtail_oneonone.flows.builtin import install_builtin
    from wagtail_oneonone.models import Flow, FlowStatus, Segment
    from wagtail_oneonone.segments.conditions import Param, clean_value

    segments = {
        slug: Segment.objects.create(name=name, slug=slug, rules={"version": 1, "rules": rules})
        for slug, (name, rules) in SEGMENTS.items()
    }
    flows = []
    for key in BUILTINS:
        flow = install_builtin(key)
        flow.status = FlowStatus.ACTIVE
        flow.save()
        flows.append(flow)
    for name, fields, steps in FLOWS:
        values = dict(fields)
        if "entry" in values:
            values["entry_segment"] = segments[values.pop("entry")]
        if values.get("trigger_filters"):  # as the flow editor stores them
            filters = Param("trigger_filters", "filters")
            values["trigger_filters"] = clean_value(filters, values["trigger_filters"], "f")
        steps_value = FlowStepsBlock().to_python(steps)
        flows.append(
            Flow.objects.create(
                name=name,
                status=FlowStatus.ACTIVE,
                trigger_type="event",
                steps=steps_value,
                **values,
            )
        )
    # Turned on before the log's first event: every event in it counts.
    Flow.objects.update(activated_at=activated_at)
    return [{"id": flow.pk, "name": flow.name, "trigger": describe(flow)} for flow in flows]


def describe(flow: Any) -> str:
    """``product_viewed, x3 in 72 h, category equals coffee, every 14 d``."""
    parts = [flow.trigger_event_type]
    if flow.trigger_count > 1:
        parts.append(f"x{flow.trigger_count} in {flow.trigger_window_hours} h")
    parts += [f"{f['property']} {f['operator']} {f.get('value')}" for f in flow.trigger_filters]
    if flow.entry_segment_id:
        parts.append(f"in '{flow.entry_segment.name}'")
    every = flow.reentry == "every_n_days"
    parts.append(f"every {flow.reentry_days} d" if every else flow.reentry)
    return ", ".join(parts)


# Phases -------------------------------------------------------------------------------------


def phase_setup(args: argparse.Namespace) -> dict[str, Any]:
    from datagen import EVENT_DAYS, generate_shop_data
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Max, Min

    from wagtail_oneonone.models import Contact, Event

    call_command("migrate", verbosity=0, interactive=False)
    made = generate_shop_data(
        args.contacts, args.events, seed=args.seed, progress=partial(kit.progress, args.db)
    )
    kit.progress(args.db, made.summary())

    # Each contact who signed up while the log was kept: their first event is the sign-up.
    started = time.perf_counter()
    event_table = connection.ops.quote_name(Event._meta.db_table)
    contact_table = connection.ops.quote_name(Contact._meta.db_table)
    json_cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {event_table}
            SET type = 'signed_up', value = NULL, currency = '',
                properties = %s{json_cast}
            WHERE id IN (
              SELECT MIN(e.id) FROM {event_table} e
              JOIN {contact_table} c ON c.id = e.contact_id
              WHERE c.created_at >= %s
              GROUP BY e.contact_id
            )
            """,
            [
                json.dumps({"source": "checkout"}),
                made.now - dt.timedelta(days=EVENT_DAYS),
            ],
        )
        signed_up = cursor.rowcount
    kit.vacuum_analyze(Event)
    signup_s = time.perf_counter() - started

    bounds = Event.objects.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    flows = install_flows(activated_at=bounds["first"] - dt.timedelta(days=1))
    mix = dict(Event.objects.order_by().values_list("type").annotate(n=Count("id")))
    kit.progress(args.db, f"{signed_up:,} first events made sign-ups; {len(flows)} flows on")
    settings = {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for name in ("autovacuum", "shared_buffers", "synchronous_commit"):
                cursor.execute(f"SHOW {name}")
                settings[name] = cursor.fetchone()[0]
    return {
        "server": kit.server_version(),
        "server_settings": settings,
        "data_seconds": made.total_seconds + signup_s,
        "contacts": made.contacts,
        "events": Event.objects.count(),
        "anonymous_events": Event.objects.filter(contact_id__isnull=True).count(),
        "mix": mix,
        "log": [bounds["first"].isoformat(), bounds["last"].isoformat()],
        "now": made.now.isoformat(),
        "flows": flows,
    }


def empty_tables(*models: Any) -> None:
    """Delete every row. PostgreSQL: ``TRUNCATE`` (with the empty tables referring to
    them, such as sent content), which leaves their size unknown to the planner, as on a
    new install, rather than known to be nothing: with autovacuum off nothing would
    correct that, and foreign-key checks planned once a connection for an empty table scan
    it whole for every row it grows by."""
    from django.db import connection

    tables = [connection.ops.quote_name(model._meta.db_table) for model in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
            return
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")


def read_log(limit: int) -> tuple[int, float]:
    """The baseline: the whole log read in batches as the matcher reads it."""
    from wagtail_oneonone.models import Event

    started = time.perf_counter()
    last = total = 0
    while rows := list(
        Event.objects.filter(pk__gt=last)
        .order_by("pk")
        .values_list("pk", "type", "contact_id", "occurred_at")[:limit]
    ):
        total += len(rows)
        last = rows[-1][0]
    return total, time.perf_counter() - started


def enrollment_fingerprint() -> tuple[dict[str, int], str]:
    """Enrollments per flow, and a digest of every key, trigger event, entry time, status
    and due time (none for those a goal event ended as it was read)."""
    from django.db.models import Count

    from wagtail_oneonone.models import Enrollment, Flow

    names = dict(Flow.objects.values_list("pk", "name"))
    counts = dict(Enrollment.objects.order_by().values_list("flow_id").annotate(n=Count("id")))
    digest = hashlib.sha256()
    rows = Enrollment.objects.order_by("key").values_list(
        "key", "trigger_event_id", "entered_at", "status", "next_run_at"
    )
    for key, event_id, entered, status, due in rows.iterator(chunk_size=20_000):
        when = due.isoformat() if due else ""
        digest.update(f"{key}|{event_id}|{entered.isoformat()}|{status}|{when}\n".encode())
    return {name: counts.get(pk, 0) for pk, name in names.items()}, digest.hexdigest()[:16]


def check_matching(args: argparse.Namespace, result: Any, now: dt.datetime) -> dict[str, Any]:
    """What matching must have done (see the module's docstring); exits if it did not."""
    from django.db.models import Count, Max

    from wagtail_oneonone.flows.triggers import EVENTS_CURSOR, match_new_events
    from wagtail_oneonone.models import Enrollment, Event, FlowCursor

    events = Event.objects.count()
    last_id = Event.objects.aggregate(last=Max("id"))["last"]
    cursor = FlowCursor.objects.get(name=EVENTS_CURSOR)
    enrollments = Enrollment.objects.count()
    problems = []
    if result.events != events:
        problems.append(f"read {result.events:,} events of {events:,}")
    if cursor.last_event_id != last_id or cursor.gaps:
        problems.append(
            f"cursor at {cursor.last_event_id} ({len(cursor.gaps)} gaps), not {last_id}"
        )
    if result.enrolled != enrollments:
        problems.append(f"said {result.enrolled:,} enrolled, the table has {enrollments:,}")
    orders = Event.objects.filter(type=ORDER, contact_id__isnull=False)
    expected = {
        "Post-purchase": orders,
        "Big order thank-you": orders.filter(value__gte=100),
    }
    for name, events_of in expected.items():
        got, count = (
            Enrollment.objects.filter(flow__name=name).count(),
            events_of.count(),
        )
        if got != count:
            problems.append(f"{name}: {got:,} enrollments for {count:,} events")
    twice = (
        Enrollment.objects.filter(flow__name="Welcome series")
        .values("contact_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    if twice:
        problems.append(f"welcome: {twice} contacts enrolled twice")
    # A replay: the cursor moved back over the last events enrolls no one.
    FlowCursor.objects.filter(pk=cursor.pk).update(
        last_event_id=max(0, last_id - args.replay_events)
    )
    replayed = match_new_events(now=now, max_seconds=3600)
    if replayed.enrolled or Enrollment.objects.count() != enrollments:
        problems.append(f"a replay of {replayed.events:,} events enrolled {replayed.enrolled}")
    if problems:
        raise SystemExit("matching went wrong: " + "; ".join(problems))
    return {"replayed_events": replayed.events}


def phase_match(args: argparse.Namespace, profile: cProfile.Profile | None = None) -> Any:
    from wagtail_oneonone.flows.triggers import MATCH_BATCH_SIZE, match_new_events
    from wagtail_oneonone.models import (
        Enrollment,
        EnrollmentLog,
        FlowCursor,
        OutboxMessage,
    )

    now = dt.datetime.fromisoformat(args.now) + dt.timedelta(minutes=1)
    empty_tables(EnrollmentLog, OutboxMessage, Enrollment, FlowCursor)  # earlier repetitions'
    read_before, baseline_before = read_log(MATCH_BATCH_SIZE)
    with kit.timed(profile) as timing:
        result = match_new_events(now=now, max_seconds=24 * 3600)
    read_after, baseline_after = read_log(MATCH_BATCH_SIZE)
    assert read_before == read_after == result.events, (read_before, read_after, result)
    per_flow, digest = enrollment_fingerprint()
    return {
        "events": result.events,
        "enrolled": result.enrolled,
        "reached_goal": result.reached_goal,
        "seconds": timing.seconds,
        "baseline_seconds": [baseline_before, baseline_after],
        "batch_size": MATCH_BATCH_SIZE,
        "per_flow": per_flow,
        "digest": digest,
        "rss_before_mb": timing.rss_before_mb,
        "peak_rss_mb": timing.peak_rss_mb,
        "statements": timing.statements.kinds,
        **({} if profile else check_matching(args, result, now)),
    }


def phase_profile(args: argparse.Namespace) -> dict[str, Any]:
    profile = cProfile.Profile()
    result = phase_match(args, profile)
    text = kit.profile_report(profile, cumulative=35, tottime=25)
    return {"events": result["events"], "seconds": result["seconds"], "text": text}


def reset_enrollments(sample: int, clock: dt.datetime) -> int:
    """Every enrollment back where matching left it (not started, due when it entered);
    all but every k-th (by id) parked, waiting until long after ``clock``, so that
    ``sample`` of them are due. Returns k."""
    from django.db.models import F
    from django.db.models.functions import Mod

    from wagtail_oneonone.models import Enrollment, EnrollmentLog, OutboxMessage

    empty_tables(EnrollmentLog, OutboxMessage)
    Enrollment.objects.update(
        status="active",
        step_id="",
        waiting=False,
        next_run_at=F("entered_at"),
        finished_at=None,
        exit_reason="",
        lease_until=None,
    )
    every = max(1, -(-Enrollment.objects.count() // sample))  # ceil
    if every > 1:
        Enrollment.objects.annotate(bucket=Mod("id", every)).exclude(bucket=0).update(
            waiting=True, next_run_at=clock + dt.timedelta(days=3650)
        )
    kit.vacuum_analyze(Enrollment)
    return every


def phase_advance(args: argparse.Namespace) -> dict[str, Any]:
    from django.db.models import Count
    from django.db.models.functions import Mod

    from wagtail_oneonone.flows.content import FLOW_SOURCE, NOTIFY_SOURCE
    from wagtail_oneonone.flows.services import advance_due, due_enrollments
    from wagtail_oneonone.models import Enrollment, EnrollmentLog, OutboxMessage

    clock = dt.datetime.fromisoformat(args.now) + dt.timedelta(hours=args.advance_hours)
    every = reset_enrollments(args.advance_sample, clock)
    due = due_enrollments(clock).count()
    with kit.timed() as timing:
        result = advance_due(now=clock)

    outbox = OutboxMessage.objects.filter(source_type=FLOW_SOURCE).count()
    sent_logs = EnrollmentLog.objects.filter(action="sent").count()
    duplicates = (
        OutboxMessage.objects.values("source_id", "contact_id", "context__enrollment")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    problems = []
    if result.advanced != due:
        problems.append(f"advanced {result.advanced:,} of {due:,} due")
    if result.errors:
        problems.append(f"{len(result.errors)} errors, the first: {result.errors[0]}")
    if due_enrollments(clock).exists():
        problems.append("enrollments are still due")
    if result.sent != outbox or sent_logs != outbox or duplicates:
        problems.append(
            f"sent {result.sent:,}, outbox rows {outbox:,}, 'sent' log lines {sent_logs:,}, "
            f"{duplicates} steps queued twice"
        )
    if problems:
        raise SystemExit("advancing went wrong: " + "; ".join(problems))
    sample = Enrollment.objects.order_by().annotate(bucket=Mod("id", every)).filter(bucket=0)
    return {
        "due": due,
        "every": every,
        "advanced": result.advanced,
        "sent": result.sent,
        "notified": OutboxMessage.objects.filter(source_type=NOTIFY_SOURCE).count(),
        "log_lines": EnrollmentLog.objects.count(),
        "statuses": dict(sample.values_list("status").annotate(n=Count("id"))),
        "seconds": timing.seconds,
        "peak_rss_mb": timing.peak_rss_mb,
        "statements": timing.statements.kinds,
    }


PHASES = kit.phases(phase_setup, phase_match, phase_advance, phase_profile)


# Orchestration ------------------------------------------------------------------------------


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    clock = kit.Stopwatch()
    matches: list[dict[str, Any]] = []
    advances: list[dict[str, Any]] = []
    profile = None
    pg = kit.pg_settings(args.pg_name, args.pg_maintenance_db)
    with kit.scratch(args.db, pg, prefix="oneonone-flows-bench-", keep=args.keep) as workdir:
        spawn = partial(kit.spawn_phase, __file__, args, workdir=workdir)
        setup = spawn("setup")
        for rep in range(args.repeat):
            data = spawn("match", rep=rep, now=setup["now"])
            matches.append(data)
            kit.progress(
                args.db,
                f"match #{rep + 1}: {data['events']:,} events in {data['seconds']:.1f} s "
                f"({data['events'] / data['seconds']:,.0f}/s; reading "
                f"{statistics.median(data['baseline_seconds']):.1f} s), "
                f"{data['enrolled']:,} enrolled, {data['reached_goal']:,} ended at their goal, "
                f"peak RSS {data['peak_rss_mb']:.0f} MB",
            )
            if rep < args.advance_repeat:
                data = spawn("advance", rep=rep, now=setup["now"])
                advances.append(data)
                kit.progress(
                    args.db,
                    f"advance #{rep + 1}: {data['advanced']:,} in {data['seconds']:.1f} s "
                    f"({data['advanced'] / data['seconds']:,.0f}/s), {data['sent']:,} emails "
                    f"queued, peak RSS {data['peak_rss_mb']:.0f} MB",
                )
        digests = {data["digest"] for data in matches}
        if len(digests) != 1:
            raise SystemExit(f"repetitions enrolled differently: {digests}")
        match_s = statistics.median(data["seconds"] for data in matches)
        baselines = [seconds for data in matches for seconds in data["baseline_seconds"]]
        events = matches[0]["events"]
        target_met = events / match_s >= TARGET_EVENTS_PER_S if args.db == "postgres" else None
        if args.profile_when == "always" or (args.profile_when == "missed" and not target_met):
            profile = spawn("profile", rep="profile", now=setup["now"])

    baseline_s = statistics.median(baselines)
    advance_s = statistics.median(data["seconds"] for data in advances) if advances else None
    advance = advances[0] if advances else {}
    per_flow = matches[0]["per_flow"]
    result = {
        "db": args.db,
        "server": setup["server"],
        "server_settings": setup["server_settings"],
        "contacts": setup["contacts"],
        "events": events,
        "anonymous_events": setup["anonymous_events"],
        "event_mix": setup["mix"],
        "log": setup["log"],
        "flows": len(setup["flows"]),
        "flow_triggers": {flow["name"]: flow["trigger"] for flow in setup["flows"]},
        "repeat": args.repeat,
        "batch_size": matches[0]["batch_size"],
        "baseline": "Event values_list(pk, type, contact_id, occurred_at) in batches",
        "baseline_seconds": round(baseline_s, 2),
        "baseline_runs_seconds": [round(seconds, 2) for seconds in baselines],
        "baseline_events_per_s": round(events / baseline_s),
        "match_seconds": round(match_s, 2),
        "match_runs_seconds": [round(data["seconds"], 2) for data in matches],
        "events_per_s": round(events / match_s),
        "ratio": round(match_s / baseline_s, 1),
        "enrolled": matches[0]["enrolled"],
        "reached_goal": matches[0]["reached_goal"],
        "enrolled_per_flow": per_flow,
        "enrollment_digest": matches[0]["digest"],
        "flows_enrolling": sum(1 for count in per_flow.values() if count),
        "replayed_events": matches[0]["replayed_events"],
        "match_peak_rss_mb": round(max(data["peak_rss_mb"] for data in matches), 1),
        "match_rss_before_mb": round(matches[0]["rss_before_mb"], 1),
        **{f"match_{k}": v for k, v in kit.statement_summary(matches[0]["statements"]).items()},
        "advance_clock": f"last event + {args.advance_hours:g} h",
        "advance_repeat": len(advances),
        "advance_due": advance.get("due"),
        "advance_sample_every": advance.get("every"),
        "advanced": advance.get("advanced"),
        "advance_seconds": round(advance_s, 2) if advance_s else None,
        "advance_runs_seconds": [round(data["seconds"], 2) for data in advances],
        "advanced_per_s": round(advance["advanced"] / advance_s) if advance_s else None,
        "advance_outbox_rows": advance.get("sent"),
        "advance_notified": advance.get("notified"),
        "advance_log_lines": advance.get("log_lines"),
        "advance_statuses": advance.get("statuses"),
        "advance_peak_rss_mb": (
            round(max(data["peak_rss_mb"] for data in advances), 1) if advances else None
        ),
        **{
            f"advance_{k}": v
            for k, v in kit.statement_summary(advance.get("statements", {})).items()
        },
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "target_met": target_met,
        "data_seconds": round(setup["data_seconds"], 1),
        **clock.figures(),
    }
    print_table(result)
    if profile:
        what = f"one match ({profile['events']:,} events, {profile['seconds']:.1f} s under it)"
        kit.print_profile(what, profile["text"])
    return result


def print_table(r: dict[str, Any]) -> None:
    met = "n/a" if r["target_met"] is None else "met" if r["target_met"] else "MISSED"
    settings = ", ".join(f"{name} {value}" for name, value in r["server_settings"].items())
    print(f"\n== {r['db']}: {r['server']}" + (f" ({settings})" if settings else ""))
    print(
        f"   {r['contacts']:,} contacts, {r['events']:,} events ({r['anonymous_events']:,} "
        f"anonymous) from {r['log'][0][:10]} to {r['log'][1][:10]} (generated in "
        f"{r['data_seconds']:.1f} s); {r['flows']} active event flows, turned on before it"
    )
    print(
        f"   {kit.machine_note(r['load_average'], r['wall_seconds'])}; medians of {r['repeat']} "
        f"repetitions; batches of {r['batch_size']:,}"
    )
    runs = ", ".join(f"{s:.1f}" for s in r["baseline_runs_seconds"])
    print(
        f"   baseline (reading the log in batches): {r['baseline_seconds']:.2f} s, "
        f"{r['baseline_events_per_s']:,} events/s (runs {runs} s)"
    )
    runs = ", ".join(f"{s:.1f}" for s in r["match_runs_seconds"])
    print(
        f"   match_new_events():                    {r['match_seconds']:.2f} s, "
        f"{r['events_per_s']:,} events/s (runs {runs} s); ratio {r['ratio']:.1f}; "
        f"target ≥ {r['target_events_per_s']:,.0f}/s on PostgreSQL: {met}"
    )
    print(
        f"   enrolled {r['enrolled']:,} ({r['flows_enrolling']} of {r['flows']} flows), "
        f"{r['reached_goal']:,} of them ended at their goal as it was read; a replay "
        f"of {r['replayed_events']:,} events enrolled no one; peak RSS "
        f"{r['match_peak_rss_mb']:.0f} MB (before matching {r['match_rss_before_mb']:.0f} MB)"
    )
    for name, count in sorted(r["enrolled_per_flow"].items(), key=lambda kv: -kv[1]):
        print(f"     {count:>8,}  {name}: {r['flow_triggers'][name]}")
    statements = kit.format_statements(r["match_statements"], r["match_statement_ms"])
    print(f"   matching's statements: {statements}")
    if r["advance_seconds"] is None:
        return
    runs = ", ".join(f"{s:.1f}" for s in r["advance_runs_seconds"])
    every = r["advance_sample_every"]
    sample = f"every {every} by id; the others wait" if every > 1 else "all of them"
    print(f"   advancing {r['advance_due']:,} of the {r['enrolled']:,} enrollments ({sample})")
    print(
        f"   advance_due() at {r['advance_clock']}: {r['advanced']:,} enrollments in "
        f"{r['advance_seconds']:.1f} s, {r['advanced_per_s']:,}/s (runs {runs} s); "
        f"{r['advance_outbox_rows']:,} emails queued, {r['advance_notified']:,} notes, "
        f"{r['advance_log_lines']:,} log lines; peak RSS {r['advance_peak_rss_mb']:.0f} MB"
    )
    print(f"     the sample afterwards: {r['advance_statuses']}")
    statements = kit.format_statements(r["advance_statements"], r["advance_statement_ms"])
    print(f"   advancing's statements: {statements}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kit.add_common_arguments(parser, pg_name="bench_oneonone_flows", phases=PHASES)
    parser.add_argument("--contacts", type=int, help="default 100,000 (20,000 on SQLite)")
    parser.add_argument("--events", type=int, help="default 1,000,000 (200,000 on SQLite)")
    parser.add_argument("--repeat", type=int, default=3, help="match repetitions")
    parser.add_argument(
        "--advance-repeat",
        type=int,
        default=3,
        help="advance repetitions (at most --repeat)",
    )
    parser.add_argument(
        "--advance-hours",
        type=float,
        default=6.0,
        help="advance_due()'s clock after the log",
    )
    parser.add_argument(
        "--advance-sample",
        type=int,
        default=100_000,
        help="enrollments due when advancing (every k-th by id; the rest wait)",
    )
    parser.add_argument("--replay-events", type=int, default=20_000)
    parser.add_argument("--profile-when", choices=["missed", "always", "never"], default="missed")
    parser.add_argument("--rep", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.db != "both":
        contacts, events = SIZES[args.db]
        args.contacts = args.contacts or contacts
        args.events = args.events or events
    if args.phase:
        kit.run_phase(args, PHASES, lambda: kit.configure_shop(kit.phase_database(args)))
    else:
        kit.print_result(__file__, args, run_one, ["target_met"])


if __name__ == "__main__":
    main()
