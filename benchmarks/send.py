"""What sending costs: ``dispatch_due()`` from the outbox against a floor with no database.

Usage::

    python benchmarks/send.py [--db sqlite|postgres|both] [--messages 10000]
        [--batch-size 200] [--group-size N (HANDOFF_GROUP_SIZE; default: the app's)]

Each run builds a fresh database (a SQLite file in a temporary directory, in WAL mode with
``synchronous=NORMAL`` and ``transaction_mode=IMMEDIATE`` as docs/sending.md advises; or
a scratch PostgreSQL database, ``bench_oneonone_send`` on ``$PGHOST``/127.0.0.1, dropped
afterwards) and works through it in phases, each a fresh process:

setup     migrate; N subscribed contacts, each with five product views (some also a cart
          and an order), some with attributes a conditional block reads; one marketing
          ``EmailTemplate`` (first name with a fallback, a loop over
          ``recent_products[:3]`` with name, price, link and image, an ``{% if %}`` on
          ``contact.attributes.vip``, the unsubscribe link); then ``queue_messages()`` for
          every contact in one transaction, streamed from the database (timed);
floor     the same template and contacts with no database in the timed loop: contexts are
          built beforehand with ``build_contexts()`` a batch at a time (and the same signed
          links), then ``render_email()`` + ``build_email()`` on unsaved ``OutboxMessage``s
          + ``.message().as_bytes()`` are timed; any query in the loop aborts the run. Run
          before and after the dispatch; the median of all passes is reported;
dispatch  ``dispatch_due()`` in one process (batches of ``--batch-size``, hand-off groups of
          ``--group-size``, see docs/sending.md), the email backend a recording one that
          serialises each message with ``.message().as_bytes()`` (so MIME building is paid
          as a real backend would) and keeps only a count and a byte total. Peak RSS is
          ``ru_maxrss`` of this process, which did nothing but start Django and send. A
          counting ``execute_wrapper`` (about 1 µs a query) and a timer on ``COMMIT``
          report the statements a message costs and the time spent in them;
profile   when the ratio misses its target (or with ``--profile-when always``): cProfile of
          ``dispatch_due()`` over ``--profile`` more messages of a second template.

Targets (the issue): dispatch ≥ 60 % of the floor's throughput; peak RSS ≤ 300 MB while
sending 100,000 messages (``--messages 100000 --db postgres``; the audience is streamed in
batches, never held in memory). For large runs the floor uses the first ``--floor-limit``
messages: its throughput does not depend on how many there are.

It prints a table, then as its last line ``RESULT {json}``. With ``--db both`` each
database runs in its own process and the last line holds both runs.
"""

from __future__ import annotations

import argparse
import cProfile
import random
import statistics
import sys
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import benchkit as kit
from django.core.mail.backends.base import BaseEmailBackend

TARGET_RATIO = 0.6
TARGET_RSS_MB = 300.0
RSS_TARGET_MESSAGES = 100_000
CATEGORIES = ["tea", "coffee", "cups", "gifts", "accessories"]
FIRST_NAMES = ["Ann", "Bea", "Cal", "Dee", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo", "Kit"]
LAST_NAMES = ["Lee", "Moss", "Nash", "Orr", "Park", "Quinn", "Reid", "Shaw", "Tate"]
TIME_ZONES = ["Europe/London", "Europe/Paris", "America/New_York", "Australia/Sydney", ""]
PRODUCTS = 500

SUBJECT = (
    "{{ contact.first_name|default('there', true) }}, still thinking about "
    "{{ recent_products[0].name }}?"
)
PREHEADER = "{{ recent_products|length }} things you looked at, and what is new this week"
HTML_BODY = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Oak &amp; Thread</title>
<style>
  body { margin: 0; padding: 0; background: #f4f1ec; }
  .card { background: #ffffff; border-radius: 6px; }
  @media (max-width: 600px) { .col { display: block !important; width: 100% !important; } }
</style>
</head>
<body style="margin:0;padding:0;background:#f4f1ec;font-family:Georgia,serif;color:#2b2b2b">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr><td align="center" style="padding:24px 12px">
<table role="presentation" class="card" width="600" cellpadding="0" cellspacing="0"
  border="0" style="max-width:600px;width:100%;background:#ffffff">
<tr><td style="padding:28px 32px 8px 32px">
  <a href="{{ site.base_url }}/"><img src="{{ '/static/email/logo.png'|absolute_url }}"
    width="140" alt="Oak &amp; Thread" style="display:block;border:0"></a>
</td></tr>
<tr><td style="padding:8px 32px;font-size:17px;line-height:26px">
  <h1 style="font-size:24px;line-height:32px;font-weight:normal;margin:0 0 12px 0">
    Hello {{ contact.first_name|default('there', true) }},</h1>
  <p style="margin:0 0 16px 0">You had a look at these recently. They are still here,
  and we thought you might like to see them again:</p>
</td></tr>
<tr><td style="padding:0 24px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>
{% for product in recent_products[:3] %}
  <td class="col" width="33%" valign="top" style="padding:8px;text-align:center">
    <a href="{{ product.url }}?utm_source=email&amp;utm_campaign=recent"
      style="color:#2b2b2b;text-decoration:none">
      <img src="{{ product.image_url }}" width="160" alt="{{ product.name }}"
        style="display:block;width:100%;max-width:160px;margin:0 auto;border:0">
      <p style="font-size:15px;line-height:20px;margin:8px 0 2px 0">{{ product.name }}</p>
      <p style="font-size:15px;line-height:20px;margin:0;color:#7a5c3e">
        {{ product.price|money }}</p>
    </a>
  </td>
{% endfor %}
</tr></table>
</td></tr>
<tr><td style="padding:16px 32px;font-size:16px;line-height:24px">
{% if contact.attributes.vip %}
  <p style="margin:0 0 12px 0;padding:12px 16px;background:#efe6d8;border-radius:4px">
    As a {{ contact.attributes.tier|default('valued') }} member you get free delivery and
    first pick of the new {{ contact.attributes.favourite_category|default('range') }}.
    <a href="{{ '/members/'|absolute_url }}" style="color:#7a5c3e">See what is waiting</a>.
  </p>
{% else %}
  <p style="margin:0 0 12px 0">Free delivery on orders over £40, and
    <a href="{{ '/join/'|absolute_url }}" style="color:#7a5c3e">members</a> get it on
    everything.</p>
{% endif %}
  <p style="margin:0"><a href="{{ '/new/'|absolute_url }}"
    style="display:inline-block;padding:10px 18px;background:#2b2b2b;color:#ffffff;
    text-decoration:none;border-radius:4px">See what is new</a></p>
</td></tr>
<tr><td style="padding:24px 32px 28px 32px;font-size:12px;line-height:18px;color:#777">
  <p style="margin:0 0 6px 0">Oak &amp; Thread, 12 Mill Lane, Hebden Bridge HX7 8AB</p>
  <p style="margin:0">You get this because you subscribed at {{ site.name }}.
    <a href="{{ preferences_url }}" style="color:#777">Choose what you get</a> ·
    <a href="{{ unsubscribe_url }}" style="color:#777">Unsubscribe</a></p>
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"""
TEXT_BODY = """\
Hello {{ contact.first_name|default('there', true) }},

You had a look at these recently. They are still here:
{% for product in recent_products[:3] %}
- {{ product.name }}, {{ product.price|money }}: {{ product.url }}
{%- endfor %}

{% if contact.attributes.vip -%}
As a {{ contact.attributes.tier|default('valued') }} member you get free delivery and first
pick of the new {{ contact.attributes.favourite_category|default('range') }}:
{{ '/members/'|absolute_url }}
{%- else -%}
Free delivery on orders over £40, and members get it on everything: {{ '/join/'|absolute_url }}
{%- endif %}

See what is new: {{ '/new/'|absolute_url }}

--
Oak & Thread, 12 Mill Lane, Hebden Bridge HX7 8AB
Choose what you get: {{ preferences_url }}
Unsubscribe: {{ unsubscribe_url }}
"""


# The email backend ---------------------------------------------------------------------


class RecordingBackend(BaseEmailBackend):
    """Builds each message's bytes, as a real backend must, and keeps only counts.

    Counts are class attributes: the dispatcher opens a new connection for every batch.
    """

    count = 0
    total_bytes = 0
    sample_every = 0
    rss_samples: list[tuple[int, float]] = []

    def send_messages(self, email_messages: Any) -> int:
        cls = type(self)
        for message in email_messages:
            cls.total_bytes += len(message.message().as_bytes())
            cls.count += 1
            if cls.sample_every and cls.count % cls.sample_every == 0:
                cls.rss_samples.append((cls.count, kit.current_rss_mb()))
        return len(email_messages)


# Django set-up ---------------------------------------------------------------------------


def configure(args: argparse.Namespace) -> None:
    cap = (
        # Never caps, but makes the decision run its frequency query for every message.
        {"max_messages": 1_000_000, "window_hours": 168, "min_gap_hours": 0}
        if args.with_cap
        else None
    )
    kit.configure_shop(
        kit.phase_database(args),
        # The class in the running script, whatever name it was started under.
        EMAIL_BACKEND=f"{__name__}.RecordingBackend",
        oneonone={
            "QUIET_HOURS": None,
            "FREQUENCY_CAP": cap,
            "KILL_SWITCH": None,
            "SEND_BATCH_SIZE": args.batch_size,
            **({"HANDOFF_GROUP_SIZE": args.group_size} if args.group_size else {}),
        },
    )


def handoff_group_size() -> int:
    """The app's default, read without setting Django up (this process never does)."""
    sys.path.insert(0, str(kit.REPO))
    from wagtail_oneonone.conf import DEFAULTS

    return int(DEFAULTS["HANDOFF_GROUP_SIZE"])


# The data --------------------------------------------------------------------------------


def product(number: int, rng: random.Random) -> dict[str, Any]:
    return {
        "product_id": f"sku-{number}",
        "name": f"{rng.choice(['Oak', 'Ash', 'Elm', 'Birch'])} {rng.choice(CATEGORIES)} "
        f"no. {number}",
        "category": CATEGORIES[number % len(CATEGORIES)],
        "price": round(4 + (number * 7.31) % 80, 2),
        # Relative, as the shop records them: the context makes them absolute.
        "url": f"/shop/products/sku-{number}/",
        "image_url": f"/media/products/sku-{number}.jpg",
    }


def contact_fields(index: int, rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.25:
        attributes: dict[str, Any] = {
            "vip": True,
            "tier": rng.choice(["gold", "silver"]),
            "favourite_category": rng.choice(CATEGORIES),
        }
    elif roll < 0.75:
        attributes = {"vip": False, "favourite_category": rng.choice(CATEGORIES)}
    else:
        attributes = {}
    return {
        "email": f"customer{index}@example.com",
        # One in seven has no first name: the template's fallback says "there".
        "first_name": "" if rng.random() < 0.15 else rng.choice(FIRST_NAMES),
        "last_name": rng.choice(LAST_NAMES) if rng.random() < 0.7 else "",
        "time_zone": rng.choice(TIME_ZONES),
        "attributes": attributes,
    }


def events_for(contact_id: int, rng: random.Random, now: Any) -> Iterator[Any]:
    import datetime as dt
    from decimal import Decimal

    from wagtail_oneonone.models import Event

    def at(hours: float) -> Any:
        return now - dt.timedelta(hours=hours)

    for number in rng.sample(range(PRODUCTS), 5):
        yield Event(
            contact_id=contact_id,
            type="product_viewed",
            occurred_at=at(rng.uniform(1, 24 * 20)),
            properties=product(number, rng),
        )
    if rng.random() < 0.5:
        items = [
            {**product(number, rng), "quantity": rng.randint(1, 3)}
            for number in rng.sample(range(PRODUCTS), rng.randint(1, 3))
        ]
        total = round(sum(item["price"] * item["quantity"] for item in items), 2)
        yield Event(
            contact_id=contact_id,
            type="cart_updated",
            occurred_at=at(rng.uniform(1, 24 * 10)),
            properties={"items": items, "cart_total": total, "action": "added"},
            value=Decimal(str(total)),
            currency="GBP",
        )
    if rng.random() < 0.25:
        items = [{**product(rng.randrange(PRODUCTS), rng), "quantity": 1}]
        total = round(items[0]["price"] + 3.95, 2)
        yield Event(
            contact_id=contact_id,
            type="order_placed",
            occurred_at=at(rng.uniform(24 * 20, 24 * 60)),
            properties={"order_id": f"order-{contact_id}", "items": items, "total": total},
            value=Decimal(str(total)),
            currency="GBP",
        )


def create_data(args: argparse.Namespace) -> tuple[int, int]:
    """N subscribed contacts and their events, in chunks; returns (contacts, events)."""
    from django.db import transaction
    from django.utils import timezone

    from wagtail_oneonone.models import ConsentStatus, Contact, Event
    from wagtail_oneonone.validation import email_hash

    rng = random.Random(args.seed)
    now = timezone.now()
    chunk = 2_000
    contacts = events = 0
    for begin in range(0, args.messages, chunk):
        with transaction.atomic():
            batch = []
            for index in range(begin, min(begin + chunk, args.messages)):
                fields = contact_fields(index, rng)
                batch.append(
                    Contact(
                        **fields,
                        email_hash=email_hash(fields["email"]),
                        consent_status=ConsentStatus.SUBSCRIBED,
                        consent_source="benchmark",
                        consent_at=now,
                    )
                )
            created = Contact.objects.bulk_create(batch)
            assert all(contact.pk for contact in created), "bulk_create returned no ids"
            rows = [event for contact in created for event in events_for(contact.pk, rng, now)]
            Event.objects.bulk_create(rows, batch_size=2_000)
        contacts += len(created)
        events += len(rows)
        if (begin // chunk) % 10 == 9:
            kit.progress(f"{args.db} {args.phase}", f"{contacts:,} contacts, {events:,} events")
    return contacts, events


def create_template(name: str) -> Any:
    from wagtail_oneonone.models import EmailTemplate, MessageKind

    return EmailTemplate.objects.create(
        name=name,
        kind=MessageKind.MARKETING,
        subject=SUBJECT,
        preheader=PREHEADER,
        html_body=HTML_BODY,
        text_body=TEXT_BODY,
    )


def queue_for_template(template: Any, limit: int | None = None) -> int:
    """``queue_messages()`` for every (or the first ``limit``) contact, streamed."""
    from django.db import transaction

    from wagtail_oneonone.models import Contact
    from wagtail_oneonone.sending.outbox import QueuedMessage, queue_messages

    ids = Contact.objects.subscribed().order_by("id").values_list("id", flat=True)
    if limit is not None:
        ids = ids[:limit]
    with transaction.atomic():
        return queue_messages(
            QueuedMessage(
                contact_id=contact_id,
                source_type="template",
                source_id=str(template.pk),
                kind=template.kind,
            )
            for contact_id in ids.iterator(chunk_size=2_000)
        )


# Phases ----------------------------------------------------------------------------------


def phase_setup(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrate_s = time.perf_counter() - started
    started = time.perf_counter()
    contacts, events = create_data(args)
    data_s = time.perf_counter() - started
    kit.progress(
        f"{args.db} {args.phase}", f"{contacts:,} contacts and {events:,} events in {data_s:.1f} s"
    )
    template = create_template("Recently viewed")

    started = time.perf_counter()
    queued = queue_for_template(template)
    queue_s = time.perf_counter() - started
    assert queued == args.messages, (queued, args.messages)
    kit.progress(f"{args.db} {args.phase}", f"queued {queued:,} messages in {queue_s:.2f} s")

    with connection.cursor() as cursor:
        # Fresh statistics, so that autovacuum does not do this halfway through the dispatch.
        cursor.execute("ANALYZE")
    return {
        "server": kit.server_version(),
        "migrate_seconds": migrate_s,
        "data_seconds": data_s,
        "contacts": contacts,
        "events": events,
        "template_id": template.pk,
        "queued": queued,
        "queue_seconds": queue_s,
    }


class NoQueries:
    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        raise AssertionError(f"the floor must not touch the database: {sql[:200]}")


def phase_floor(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    from wagtail_oneonone.models import Contact, EmailTemplate, MessageKind, OutboxMessage
    from wagtail_oneonone.rendering.context import build_contexts
    from wagtail_oneonone.rendering.render import render_email
    from wagtail_oneonone.sending.dispatch import ensure_unsubscribe_link
    from wagtail_oneonone.sending.messages import build_email
    from wagtail_oneonone.sending.sources import content_of
    from wagtail_oneonone.tracking.links import preferences_url, unsubscribe_url

    template = EmailTemplate.objects.get(pk=args.template_id)
    content = content_of(template)
    rows = list(
        OutboxMessage.objects.filter(source_type="template", source_id=str(template.pk))
        .order_by("id")
        .values("id", "contact_id", "kind", "source_type", "source_id")[: args.floor_limit]
    )
    contacts = Contact.objects.in_bulk([row["contact_id"] for row in rows])
    started = time.perf_counter()
    prepared = []
    for begin in range(0, len(rows), args.batch_size):  # as the dispatch does, a batch at once
        chunk = rows[begin : begin + args.batch_size]
        # Unsaved rows with the real ids: the same links and headers as the dispatch.
        messages = [
            OutboxMessage(
                id=row["id"],
                contact=contacts[row["contact_id"]],
                source_type=row["source_type"],
                source_id=row["source_id"],
                kind=row["kind"],
            )
            for row in chunk
        ]
        extras = [
            {
                "unsubscribe_url": unsubscribe_url(message.contact_id, message.pk),
                "preferences_url": preferences_url(message.contact_id, message.pk),
            }
            for message in messages
        ]
        built = build_contexts([message.contact for message in messages], extras=extras)
        prepared += [
            (message, message.contact, context)
            for message, context in zip(messages, built, strict=True)
        ]
    context_s = time.perf_counter() - started
    marketing = MessageKind.MARKETING

    def one_pass(items: list[Any]) -> tuple[float, float, int]:
        total = 0
        cpu, started = time.process_time(), time.perf_counter()
        for message, contact, context in items:
            rendered = render_email(content.template, context)
            if message.kind == marketing:
                rendered = ensure_unsubscribe_link(rendered, context["unsubscribe_url"])
            email = build_email(message, contact, content, rendered)
            total += len(email.message().as_bytes())
        return time.perf_counter() - started, time.process_time() - cpu, total

    with connection.execute_wrapper(NoQueries()):
        one_pass(prepared[:50])  # compile the template parts, warm the caches
        passes = [one_pass(prepared) for _ in range(args.floor_passes)]
    return {
        "messages": len(prepared),
        "context_seconds": context_s,
        "rates": [len(prepared) / seconds for seconds, _, _ in passes],
        "cpu_ms": [1000 * cpu / len(prepared) for _, cpu, _ in passes],
        "bytes_per_message": passes[0][2] / len(prepared),
    }


def phase_dispatch(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connections

    from wagtail_oneonone.models import OutboxMessage, OutboxStatus, SentContent
    from wagtail_oneonone.sending.dispatch import dispatch_due

    due = OutboxMessage.objects.filter(status=OutboxStatus.QUEUED).count()
    RecordingBackend.sample_every = max(1, due // 20)
    before_mb = kit.current_rss_mb()
    stats = kit.StatementCounter()
    with stats.counting_commits(connections["default"]):
        cpu, started = time.process_time(), time.perf_counter()
        result = dispatch_due(max_seconds=10**9)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak_mb, hwm_mb = kit.max_rss_mb(), kit.high_water_rss_mb()
    sent = OutboxMessage.objects.filter(status=OutboxStatus.SENT).count()
    stored = SentContent.objects.count()
    if not (result.sent == due == sent == stored == RecordingBackend.count):
        raise SystemExit(
            f"not everything was sent: due {due}, result {result}, sent rows {sent}, "
            f"stored content {stored}, backend {RecordingBackend.count}"
        )
    return {
        "messages": due,
        "seconds": seconds,
        "rate": due / seconds,
        "cpu_ms": 1000 * cpu / due,
        "claimed": result.claimed,
        "skipped": result.skipped,
        "failed": result.failed,
        "rss_before_mb": before_mb,
        "peak_rss_mb": peak_mb,
        "vm_hwm_mb": hwm_mb,
        "rss_samples": RecordingBackend.rss_samples,
        "bytes_per_message": RecordingBackend.total_bytes / RecordingBackend.count,
        "queries": {kind: entry for kind, entry in stats.kinds.items()},
    }


def phase_profile(args: argparse.Namespace) -> dict[str, Any]:
    from wagtail_oneonone.sending.dispatch import dispatch_due

    template = create_template("Recently viewed (profiled)")
    queued = queue_for_template(template, limit=args.profile)
    profiler = cProfile.Profile()
    profiler.enable()
    result = dispatch_due(max_seconds=10**9)
    profiler.disable()
    assert result.sent == queued, (result, queued)
    text = kit.profile_report(profiler, cumulative=25, app_only=25, tottime=15)
    return {"messages": queued, "text": text}


PHASES = kit.phases(phase_setup, phase_floor, phase_dispatch, phase_profile)


# Orchestration ---------------------------------------------------------------------------


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    clock = kit.Stopwatch()
    pg = kit.pg_settings(args.pg_name, args.pg_maintenance_db)
    with kit.scratch(args.db, pg, prefix="oneonone-send-bench-", keep=args.keep) as workdir:
        spawn = partial(kit.spawn_phase, __file__, args, workdir=workdir)
        setup = spawn("setup")
        before = spawn("floor", template_id=setup["template_id"])
        dispatch = spawn("dispatch")
        after = spawn("floor", template_id=setup["template_id"])
        floor_rates = before["rates"] + after["rates"]
        floor_rate = statistics.median(floor_rates)
        floor_cpu_ms = statistics.median(before["cpu_ms"] + after["cpu_ms"])
        ratio = dispatch["rate"] / floor_rate
        profile_wanted = args.profile > 0 and (
            args.profile_when == "always"
            or (args.profile_when == "missed" and ratio < TARGET_RATIO)
        )
        profile = spawn("profile") if profile_wanted else None

    result = {
        "db": args.db,
        "messages": args.messages,
        "dispatch_msgs_per_s": round(dispatch["rate"], 1),
        "floor_msgs_per_s": round(floor_rate, 1),
        "ratio": round(ratio, 3),
        "ratio_target": TARGET_RATIO,
        "ratio_target_met": ratio >= TARGET_RATIO,
        "peak_rss_mb": round(dispatch["peak_rss_mb"], 1),
        "rss_target_mb": TARGET_RSS_MB,
        "rss_target_met": dispatch["peak_rss_mb"] <= TARGET_RSS_MB,
        "queue_seconds": round(setup["queue_seconds"], 3),
        "dispatch_seconds": round(dispatch["seconds"], 2),
        "floor_rates": [round(rate, 1) for rate in floor_rates],
        "floor_messages": before["messages"],
        # Time on this process's CPU: less moved by other load than the wall clock, and
        # without the time spent waiting for the database server.
        "dispatch_cpu_ms_per_message": round(dispatch["cpu_ms"], 3),
        "floor_cpu_ms_per_message": round(floor_cpu_ms, 3),
        "rss_before_dispatch_mb": round(dispatch["rss_before_mb"], 1),
        "vm_hwm_mb": round(dispatch["vm_hwm_mb"], 1),
        "queries_per_message": round(
            sum(count for count, _ in dispatch["queries"].values()) / dispatch["messages"], 2
        ),
        "db_ms_per_message": round(
            sum(ns for _, ns in dispatch["queries"].values()) / dispatch["messages"] / 1e6, 3
        ),
        "batch_size": args.batch_size,
        "group_size": args.group_size or handoff_group_size(),
        "frequency_cap_query": args.with_cap,
        # Other processes on the machine move every figure here: this says how busy it was.
        **clock.figures(),
    }
    print_table(result, setup, before, dispatch, after)
    if profile:
        kit.print_profile(f"dispatch_due() over {profile['messages']:,} messages", profile["text"])
    return result


def print_table(
    r: dict[str, Any],
    setup: dict[str, Any],
    before: dict[str, Any],
    dispatch: dict[str, Any],
    after: dict[str, Any],
) -> None:
    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    n = r["messages"]
    print(f"\n== {r['db']}: {setup['server']}")
    print(
        f"   {setup['contacts']:,} contacts, {setup['events']:,} events "
        f"(set up in {setup['data_seconds']:.1f} s, migrated in {setup['migrate_seconds']:.1f} s);"
        f" batches of {r['batch_size']}, hand-off groups of {r['group_size']}"
    )
    print(f"   {kit.machine_note(r['load_average'], r['wall_seconds'])}")
    per_msg_ms = 1000 / r["dispatch_msgs_per_s"]
    rss_scope = (
        f"target ≤ {TARGET_RSS_MB:.0f} MB at {RSS_TARGET_MESSAGES:,}"
        + ("" if n >= RSS_TARGET_MESSAGES else f" (this run: {n:,})")
        + f": {met(r['rss_target_met'])}"
    )
    samples = dispatch["rss_samples"]
    middle = sorted({0, len(samples) // 2, len(samples) - 1}) if samples else []
    picks = [samples[i] for i in middle]
    rss_line = ", ".join(f"{count:,}: {mb:.0f}" for count, mb in picks)
    half = len(r["floor_rates"]) // 2
    floor_note = (
        f"median of {len(r['floor_rates'])} passes over {r['floor_messages']:,} messages; "
        f"before: {', '.join(f'{rate:.0f}' for rate in r['floor_rates'][:half])}; "
        f"after: {', '.join(f'{rate:.0f}' for rate in r['floor_rates'][half:])}"
    )
    rows = [
        (
            "queue_messages(), one transaction",
            f"{r['queue_seconds']:.2f} s",
            f"{n / r['queue_seconds']:,.0f} rows/s",
        ),
        (
            "dispatch_due(), one process",
            f"{r['dispatch_msgs_per_s']:,.0f} msg/s",
            f"{n:,} in {r['dispatch_seconds']:.1f} s; {per_msg_ms:.2f} ms a message",
        ),
        ("floor: render + build + MIME", f"{r['floor_msgs_per_s']:,.0f} msg/s", floor_note),
        (
            "  build_contexts() + links, untimed",
            f"{1000 * before['context_seconds'] / before['messages']:.2f} ms",
            "a message, in the floor's set-up (the dispatch pays it in its loop)",
        ),
        (
            "CPU time a message, dispatch / floor",
            f"{r['dispatch_cpu_ms_per_message']:.2f} ms",
            f"floor {r['floor_cpu_ms_per_message']:.2f} ms (this process only)",
        ),
        (
            "ratio dispatch / floor",
            f"{r['ratio']:.3f}",
            f"target ≥ {TARGET_RATIO}: {met(r['ratio_target_met'])}",
        ),
        ("peak RSS of the dispatch (ru_maxrss)", f"{r['peak_rss_mb']:.1f} MB", rss_scope),
        (
            "  RSS before dispatch; VmHWM",
            f"{r['rss_before_dispatch_mb']:.1f} MB",
            f"VmHWM {r['vm_hwm_mb']:.1f} MB",
        ),
        ("  RSS while sending (msgs: MB)", "", rss_line),
        (
            "bytes a message, dispatch / floor",
            f"{dispatch['bytes_per_message']:,.0f}",
            f"floor {before['bytes_per_message']:,.0f}, {after['bytes_per_message']:,.0f}",
        ),
        (
            "queries a message",
            f"{r['queries_per_message']:.2f}",
            f"{r['db_ms_per_message']:.3f} ms of {per_msg_ms:.3f} ms inside execute()",
        ),
    ]
    width = max(len(row[0]) for row in rows)
    for label, value, note in rows:
        print(f"   {label:<{width}}  {value:>13}   {note}".rstrip())
    print("   statements (per message; µs each, mean):")
    for kind, (count, ns) in sorted(dispatch["queries"].items(), key=lambda kv: -kv[1][0]):
        print(f"     {kind:<40} {count / n:>6.3f}  {ns / count / 1000:>8.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kit.add_common_arguments(parser, pg_name="bench_oneonone_send", phases=PHASES)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=200, help="SEND_BATCH_SIZE")
    parser.add_argument(
        "--group-size", type=int, default=0, help="HANDOFF_GROUP_SIZE (0: the app's default)"
    )
    parser.add_argument(
        "--floor-passes", type=int, default=2, help="floor passes before and after the dispatch"
    )
    parser.add_argument(
        "--floor-limit", type=int, default=10_000, help="the floor renders at most this many"
    )
    parser.add_argument(
        "--profile", type=int, default=2_000, metavar="N", help="messages for the cProfile run"
    )
    parser.add_argument("--profile-when", choices=["missed", "always", "never"], default="missed")
    parser.add_argument(
        "--with-cap",
        action="store_true",
        help="a frequency cap that never caps, so its query runs for every message",
    )
    parser.add_argument("--template-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        kit.run_phase(args, PHASES, partial(configure, args))
    else:
        kit.print_result(__file__, args, run_one, ["ratio_target_met", "rss_target_met"])


if __name__ == "__main__":
    main()
