"""What recording an event costs: ``track()`` against a bare insert, and the page-view hook.

Usage::

    python benchmarks/ingest.py [--db sqlite|postgres|both] [--events 20000]

Each run builds a fresh database (a SQLite file in a temporary directory, in WAL mode with
``synchronous=NORMAL``; or a scratch PostgreSQL database, ``bench_oneonone`` on
``$PGHOST``/127.0.0.1, dropped afterwards), migrates it and creates contacts. Then it
measures, in the same process:

(a) ``wagtail_oneonone.track()`` for a mix of product views, cart updates and orders,
    most by email for existing contacts, some by ``contact=``;
(b) the floor: a bare ``Event(...).save(force_insert=True)`` of the same rows (same
    contacts, same properties), interleaved with (a) in rounds so that noise hits both;
(c) the page-serve hook: ``Client().get()`` of Wagtail pages with ``TRACK_PAGE_VIEWS``
    on and off, interleaved.

It prints a table, then as its last line ``RESULT {json}``. With ``--db both`` each
database runs in its own process and the last line holds both runs.
"""

from __future__ import annotations

import argparse
import cProfile
import random
import statistics
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import benchkit as kit

TARGET_RATIO = 1.5
TARGET_HOOK_MS = 1.0
BROWSER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)
CATEGORIES = ["tea", "coffee", "cups", "gifts", "accessories"]


# Django set-up ---------------------------------------------------------------------------


def configure(database: dict[str, Any]) -> None:
    kit.configure_django(
        database,
        urls={"": "wagtail.urls"},
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "wagtail_oneonone.middleware.VisitorMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                    ]
                },
            }
        ],
        WAGTAIL_SITE_NAME="benchmark",
        WAGTAILADMIN_BASE_URL="http://testserver",
        WAGTAIL_ONEONONE={},
    )


# The workload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One event of the workload, in the forms both (a) and (b) need."""

    event_type: str
    contact_index: int
    by_email: bool
    email_as_typed: str
    properties: dict[str, Any]
    value: Decimal | None


def _items(rng: random.Random, products: int) -> list[dict[str, Any]]:
    return [
        {
            "product_id": f"sku-{rng.randrange(products)}",
            "name": f"Product {rng.randrange(products)}",
            "quantity": rng.randint(1, 4),
            "price": round(rng.uniform(2, 60), 2),
            "category": rng.choice(CATEGORIES),
        }
        for _ in range(rng.randint(1, 4))
    ]


def make_workload(n: int, emails: list[str], seed: int = 20240601) -> list[Spec]:
    """60 % product views, 25 % cart updates, 15 % orders; 80 % by email, 20 % by contact."""
    rng = random.Random(seed)
    products = 300
    specs = []
    for i in range(n):
        index = rng.randrange(len(emails))
        roll = rng.random()
        value: Decimal | None = None
        if roll < 0.60:
            event_type = "product_viewed"
            product = rng.randrange(products)
            properties: dict[str, Any] = {
                "product_id": f"sku-{product}",
                "name": f"Product {product}",
                "category": rng.choice(CATEGORIES),
                "price": round(rng.uniform(2, 60), 2),
                "url": f"https://shop.example.com/products/sku-{product}/",
            }
        elif roll < 0.85:
            event_type = "cart_updated"
            items = _items(rng, products)
            total = round(sum(item["price"] * item["quantity"] for item in items), 2)
            properties = {
                "items": items,
                "cart_total": total,
                "action": rng.choice(["added", "removed", "changed"]),
                "product_id": items[0]["product_id"],
            }
            value = Decimal(str(total)).quantize(Decimal("0.01"))
        else:
            event_type = "order_placed"
            items = _items(rng, products)
            total = round(sum(item["price"] * item["quantity"] for item in items) + 3.95, 2)
            properties = {
                "order_id": f"order-{i}",
                "items": items,
                "total": total,
                "shipping": 3.95,
            }
            value = Decimal(str(total)).quantize(Decimal("0.01"))
        email = emails[index]
        # Addresses arrive as people typed them; one in ten with capitals.
        as_typed = email.capitalize() if rng.random() < 0.1 else email
        specs.append(Spec(event_type, index, rng.random() < 0.8, as_typed, properties, value))
    return specs


def create_contacts(count: int) -> tuple[list[Any], list[str]]:
    from wagtail_oneonone.models import Contact
    from wagtail_oneonone.validation import email_hash

    emails = [f"customer{i}@example.com" for i in range(count)]
    Contact.objects.bulk_create(
        [Contact(email=email, email_hash=email_hash(email), attributes={}) for email in emails],
        batch_size=500,
    )
    by_email = {c.email: c for c in Contact.objects.all()}
    return [by_email[email] for email in emails], emails


# Measuring -------------------------------------------------------------------------------


def run_ingest(specs: list[Spec], contacts: list[Any], rounds: int) -> tuple[list[int], list[int]]:
    """Per-event nanoseconds for track() and for the bare insert, interleaved in rounds."""
    from django.utils import timezone

    from wagtail_oneonone import track
    from wagtail_oneonone.models import Event

    def track_chunk(chunk: list[Spec], out: list[int]) -> None:
        clock = time.perf_counter_ns
        for spec in chunk:
            if spec.by_email:
                subject: dict[str, Any] = {"email": spec.email_as_typed}
            else:
                subject = {"contact": contacts[spec.contact_index]}
            start = clock()
            track(spec.event_type, properties=spec.properties, **subject)
            out.append(clock() - start)

    def insert_chunk(chunk: list[Spec], out: list[int]) -> None:
        clock = time.perf_counter_ns
        for spec in chunk:
            contact_id = contacts[spec.contact_index].pk
            start = clock()
            Event(
                contact_id=contact_id,
                type=spec.event_type,
                occurred_at=timezone.now(),
                value=spec.value,
                currency="GBP" if spec.value is not None else "",
                properties=spec.properties,
            ).save(force_insert=True)
            out.append(clock() - start)

    # Warm both paths (imports, prepared statements, caches) outside the measurement.
    warm = specs[: min(200, len(specs))]
    track_chunk(warm, [])
    insert_chunk(warm, [])

    track_ns: list[int] = []
    insert_ns: list[int] = []
    size = max(1, len(specs) // rounds)
    for number, begin in enumerate(range(0, len(specs), size)):
        chunk = specs[begin : begin + size]
        if number % 2 == 0:
            track_chunk(chunk, track_ns)
            insert_chunk(chunk, insert_ns)
        else:
            insert_chunk(chunk, insert_ns)
            track_chunk(chunk, track_ns)
    return track_ns, insert_ns


def build_pages(count: int) -> list[str]:
    from wagtail.models import Page

    home = Page.objects.get(depth=2)
    urls = []
    for i in range(count):
        page = home.add_child(instance=Page(title=f"Benchmark page {i}", slug=f"bench-{i}"))
        urls.append(page.url)
    return urls


def run_hook(urls: list[str], iterations: int) -> tuple[list[int], list[int], int, int]:
    """Per-request nanoseconds with the page-view hook on and off, interleaved."""
    from django.conf import settings
    from django.test import Client

    from wagtail_oneonone.models import Event

    clients = {True: Client(HTTP_USER_AGENT=BROWSER_UA), False: Client(HTTP_USER_AGENT=BROWSER_UA)}
    samples: dict[bool, list[int]] = {True: [], False: []}
    counts = {True: 0, False: 0}

    def one(on: bool, url: str, record: bool) -> None:
        settings.WAGTAIL_ONEONONE = {"TRACK_PAGE_VIEWS": on}
        before = Event.objects.filter(type="page_viewed").count() if not record else 0
        start = time.perf_counter_ns()
        response = clients[on].get(url)
        elapsed = time.perf_counter_ns() - start
        assert response.status_code == 200, (url, response.status_code)
        if record:
            samples[on].append(elapsed)
        else:
            counts[on] += Event.objects.filter(type="page_viewed").count() - before

    for i in range(20):  # warm-up, and proof that the hook records only when on
        one(i % 2 == 0, urls[i % len(urls)], record=False)
    assert counts[True] == 10 and counts[False] == 0, counts

    for i in range(iterations):
        url = urls[i % len(urls)]
        first = i % 2 == 0
        one(first, url, record=True)
        one(not first, url, record=True)
    settings.WAGTAIL_ONEONONE = {}
    return samples[True], samples[False], counts[True], counts[False]


def profile_track(specs: list[Spec], contacts: list[Any], top: int) -> str:
    from wagtail_oneonone import track

    profiler = cProfile.Profile()
    profiler.enable()
    for spec in specs:
        if spec.by_email:
            track(spec.event_type, properties=spec.properties, email=spec.email_as_typed)
        else:
            track(
                spec.event_type, properties=spec.properties, contact=contacts[spec.contact_index]
            )
    profiler.disable()
    return kit.profile_report(profiler, cumulative=top, tottime=top)


def median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    pg = kit.pg_settings(args.pg_name, args.pg_maintenance_db)
    with kit.scratch(args.db, pg, prefix="oneonone-bench-", keep=args.keep) as workdir:
        configure(kit.database_settings(args.db, workdir, pg))
        from django import db as django_db
        from django.core.management import call_command

        started = time.monotonic()
        call_command("migrate", verbosity=0, interactive=False)
        migrate_s = time.monotonic() - started
        contacts, emails = create_contacts(args.contacts)
        specs = make_workload(args.events, emails, seed=args.seed)
        track_ns, insert_ns = run_ingest(specs, contacts, args.rounds)
        urls = build_pages(args.pages)
        hook_on, hook_off, _, _ = run_hook(urls, args.hook_iterations)
        profile = profile_track(specs[: args.profile], contacts, 30) if args.profile else ""
        server = kit.server_version()
        django_db.connections.close_all()

    track_us, insert_us = median_us(track_ns), median_us(insert_ns)
    # Samples are in workload order, so they split by how the subject was named.
    by_email = [ns for ns, spec in zip(track_ns, specs, strict=True) if spec.by_email]
    by_contact = [ns for ns, spec in zip(track_ns, specs, strict=True) if not spec.by_email]
    on_ms, off_ms = median_us(hook_on) / 1000, median_us(hook_off) / 1000
    result = {
        "db": args.db,
        "n": args.events,
        "contacts": args.contacts,
        "median_us_track": round(track_us, 1),
        "median_us_insert": round(insert_us, 1),
        "p90_us_track": round(statistics.quantiles(track_ns, n=10)[-1] / 1000, 1),
        "p90_us_insert": round(statistics.quantiles(insert_ns, n=10)[-1] / 1000, 1),
        "ratio": round(track_us / insert_us, 3),
        "median_us_track_by_email": round(median_us(by_email), 1),
        "median_us_track_by_contact": round(median_us(by_contact), 1),
        "hook_iterations": args.hook_iterations,
        "hook_on_ms": round(on_ms, 3),
        "hook_off_ms": round(off_ms, 3),
        "hook_added_ms": round(on_ms - off_ms, 3),
        "ratio_target": TARGET_RATIO,
        "hook_target_ms": TARGET_HOOK_MS,
        "ratio_target_met": track_us / insert_us <= TARGET_RATIO,
        "hook_target_met": on_ms - off_ms <= TARGET_HOOK_MS,
    }
    print_table(result, server, migrate_s)
    if profile:
        kit.print_profile(f"track() over {args.profile} events", profile)
    return result


def print_table(r: dict[str, Any], server: str, migrate_s: float) -> None:
    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"\n== {r['db']}: {server}")
    print(f"   migrated in {migrate_s:.1f} s; {r['contacts']} contacts; {r['n']} events each way")
    ratio_note = f"target ≤ {TARGET_RATIO}: {met(r['ratio_target_met'])}"
    hook_note = f"target ≤ {TARGET_HOOK_MS} ms: {met(r['hook_target_met'])}"
    requests = f"{r['hook_iterations']} requests"
    rows = [
        ("track() per event, median", f"{r['median_us_track']:.1f} µs", ""),
        ("  of which by email=", f"{r['median_us_track_by_email']:.1f} µs", "80 % of events"),
        ("  of which by contact=", f"{r['median_us_track_by_contact']:.1f} µs", "20 % of events"),
        ("bare insert per event, median", f"{r['median_us_insert']:.1f} µs", ""),
        ("track() per event, p90", f"{r['p90_us_track']:.1f} µs", ""),
        ("bare insert per event, p90", f"{r['p90_us_insert']:.1f} µs", ""),
        ("ratio of medians track / insert", f"{r['ratio']:.2f}", ratio_note),
        ("page GET, hook on, median", f"{r['hook_on_ms']:.3f} ms", requests),
        ("page GET, hook off, median", f"{r['hook_off_ms']:.3f} ms", requests),
        ("added by the hook", f"{r['hook_added_ms']:.3f} ms", hook_note),
    ]
    width = max(len(row[0]) for row in rows)
    for label, value, note in rows:
        print(f"   {label:<{width}}  {value:>12}   {note}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kit.add_common_arguments(parser, pg_name="bench_oneonone")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=40, help="interleaving rounds")
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--hook-iterations", type=int, default=1_000)
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="also cProfile N track() calls"
    )
    args = parser.parse_args()

    kit.print_result(__file__, args, run_one, ["ratio_target_met", "hook_target_met"])


if __name__ == "__main__":
    main()
