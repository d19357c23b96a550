"""Realistic contacts and events, made fast inside the database, for any benchmark.

::

    from datagen import generate_shop_data

    made = generate_shop_data(contacts=100_000, events=1_000_000)
    print(made.summary())

Call it after ``migrate``, with Django configured. The same seed gives the same data on
the same database (PostgreSQL builds it with ``setseed()`` and ``random()`` in
``INSERT … SELECT`` statements; SQLite from Python's ``random.Random`` with
``executemany`` in one transaction). The two databases get the same distributions, not
the same rows.

The shape of the data:

- contacts sign up over five years, more of them recently (exponential growth); ids
  follow sign-up order. 35 % have no birthday; birthdays are spread over the year.
  Consent: 60 % subscribed, 15 % unsubscribed (all of them suppressed), 5 % pending, 20 %
  none; 1 % hard-bounced. A third have custom attributes (vip, tier, favourite category,
  loyalty points). ``customer_since`` is the day of the first order;
- the event log covers the last two years (tracking began then). Each contact is active
  from sign-up until they drift away (exponential, mean 400 days; a fifth never do), and
  their events fall evenly in that span, so the log grows denser towards the present as
  the list grows. How many events a contact has is their rate (log-normal, sigma 1.5) times
  how long they were active (plus 30 days for the burst after signing up): many have
  none or a few, some hundreds; the totals are exact;
- of the contacts' events, 31 % page views, 38 % product views, 8 % cart updates, 2 %
  checkouts started, 3 % orders, 13 % emails opened, 5 % clicked, 0.2 % replied. Twelve
  categories, a few much more popular than the rest; each contact has a favourite
  category that most of their views and basket lines come from. Carts, checkouts and
  orders carry 1-4 item lines (product, name, category, price, quantity); orders have a
  value (lines plus shipping under £50), as ``track()`` would record it;
- ``anonymous_share`` of the events (5 % by default) are page and product views by
  visitors who never identified themselves (``contact_id`` NULL);
- rows are inserted in time order, as an append-only log is written, so event ids and
  the table's physical order follow ``occurred_at``.

Secondary indexes on the two tables are dropped during the load and built again after
it from their own definitions (so new migrations' indexes are kept). On PostgreSQL both
tables are then vacuumed and analysed, as autovacuum does on a live site (index-only
scans need the visibility map it sets). SQLite is left without ``ANALYZE`` statistics,
as Django leaves it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

DEFAULT_SEED = 20240601
CATEGORIES = [
    "tea",
    "coffee",
    "cups",
    "teapots",
    "gifts",
    "biscuits",
    "chocolate",
    "accessories",
    "glassware",
    "books",
    "storage",
    "sale",
]
#: Event types of identified contacts, with their share (cumulative thresholds below).
EVENT_MIX = [
    ("page_viewed", 0.308),
    ("product_viewed", 0.38),
    ("cart_updated", 0.08),
    ("checkout_started", 0.02),
    ("order_placed", 0.03),
    ("email_opened", 0.13),
    ("email_clicked", 0.05),
    ("email_replied", 0.002),
]
WITH_ITEMS = ("cart_updated", "checkout_started", "order_placed")
FIRST_NAMES = ["Ann", "Bea", "Cal", "Dee", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo", "Kit", ""]
LAST_NAMES = ["Lee", "Moss", "Nash", "Orr", "Park", "Quinn", "Reid", "Shaw", "Tate", ""]
TIME_ZONES = ["Europe/London", "Europe/London", "Europe/Paris", "America/New_York", ""]
LOCALES = ["en-GB", "en-GB", "en-US", "fr", ""]
SOURCES = ["checkout", "popup", "import", "account", ""]
#: Sign-ups span five years with growth (time constant two years); events two years.
SIGNUP_DAYS, SIGNUP_TAU_DAYS = 5 * 365, 730
EVENT_DAYS = 730
#: Contacts drift away after an exponential time (mean 400 days); this share never does.
LIFETIME_DAYS, LOYAL_SHARE = 400, 0.2
#: Anonymous visits grow with the shop (exponential, this time constant), as sign-ups do.
ANONYMOUS_TAU_DAYS = SIGNUP_TAU_DAYS
#: Each contact's rate of events is log-normal, capped so no one is a runaway bot; how
#: many they have also grows with how long they were active (plus a burst at sign-up).
ACTIVITY_SIGMA, ACTIVITY_CAP = 1.5, 200.0
SIGN_UP_BURST_DAYS = 30
FAVOURITE_SHARE = 0.6
PRODUCTS_PER_CATEGORY = 150


@dataclass
class Generated:
    """What was made and how long each part took (seconds)."""

    vendor: str
    contacts: int
    events: int
    anonymous_events: int
    first_contact_id: int
    now: dt.datetime
    seed: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def summary(self) -> str:
        parts = ", ".join(f"{name} {secs:.1f} s" for name, secs in self.seconds.items())
        return (
            f"{self.contacts:,} contacts and {self.events:,} events "
            f"({self.anonymous_events:,} anonymous) in {self.total_seconds:.1f} s: {parts}"
        )


def generate_shop_data(
    contacts: int,
    events: int,
    *,
    now: dt.datetime | None = None,
    seed: int = DEFAULT_SEED,
    anonymous_share: float = 0.05,
    email_prefix: str = "customer",
    using: str = "default",
    progress: Callable[[str], None] | None = None,
) -> Generated:
    """``contacts`` contacts and exactly ``events`` events (a share anonymous), added to
    what the database holds; contact ids continue from the largest one there."""
    from django.db import connections
    from django.utils import timezone

    connection = connections[using]
    now = (now or timezone.now()).astimezone(dt.UTC).replace(microsecond=0)
    anonymous = round(events * anonymous_share)
    say = progress or (lambda text: None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM wagtail_oneonone_contact")
        base = int(cursor.fetchone()[0])
    made = Generated(connection.vendor, contacts, events, anonymous, base + 1, now, seed)
    builder = _Postgres if connection.vendor == "postgresql" else _SQLite
    builder(connection, made, base, email_prefix, say).run()
    return made


class _Builder:
    def __init__(
        self,
        connection: Any,
        made: Generated,
        base: int,
        prefix: str,
        say: Callable[[str], None],
    ) -> None:
        self.connection = connection
        self.made = made
        self.base = base
        self.prefix = prefix
        self.say = say

    def timed(self, name: str, step: Callable[[], None]) -> None:
        started = time.perf_counter()
        step()
        self.made.seconds[name] = time.perf_counter() - started
        self.say(f"{name}: {self.made.seconds[name]:.1f} s")

    def run(self) -> None:
        raise NotImplementedError


# PostgreSQL: everything in SQL ---------------------------------------------------------


def _thresholds() -> list[tuple[str, float]]:
    names = [name for name, _share in EVENT_MIX]
    limits = itertools.accumulate(share for _name, share in EVENT_MIX)
    return list(zip(names, limits, strict=True))


class _Postgres(_Builder):
    TABLES = ("wagtail_oneonone_event", "wagtail_oneonone_contact")

    def run(self) -> None:
        from django.db import transaction

        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cur:
            self.cur = cur
            # No foreign-key triggers during the load (the ids are made consistent by
            # construction); needs a superuser, as the benchmarks' scratch database has.
            cur.execute("SET LOCAL session_replication_role = replica")
            cur.execute("SET LOCAL work_mem = '512MB'")
            cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
            cur.execute("SELECT setseed(%s)", [(self.made.seed % 2_000_000) / 1_000_000 - 1])
            indexes = self.drop_indexes()
            self.timed("contacts", self.contacts)
            self.timed("plan", self.plan)
            self.timed("events", self.events)
            self.timed("customer_since", self.customer_since)
            self.timed("indexes", lambda: self.create_indexes(indexes))
            cur.execute("DROP TABLE gen_plan, gen_event, gen_items")
        self.timed("vacuum_analyze", self.vacuum)

    def drop_indexes(self) -> list[str]:
        """Secondary indexes of both tables (not those behind constraints), dropped."""
        self.cur.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid = ANY(%s::regclass[])
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """,
            [list(self.TABLES)],
        )
        rows = self.cur.fetchall()
        for name, _definition in rows:
            self.cur.execute(f"DROP INDEX {name}")
        return [definition for _name, definition in rows]

    def create_indexes(self, definitions: list[str]) -> None:
        for definition in definitions:
            self.cur.execute(definition)

    def contacts(self) -> None:
        made = self.made
        params = {
            "n": made.contacts,
            "base": self.base,
            "prefix": self.prefix,
            "now": made.now,
            "first_names": FIRST_NAMES,
            "last_names": LAST_NAMES,
            "time_zones": TIME_ZONES,
            "locales": LOCALES,
            "sources": SOURCES,
            "categories": CATEGORIES,
            "signup_days": SIGNUP_DAYS,
            "growth": math.expm1(SIGNUP_DAYS / SIGNUP_TAU_DAYS),
            "tau": SIGNUP_TAU_DAYS,
            "lifetime": LIFETIME_DAYS,
            "loyal": LOYAL_SHARE,
            "sigma": ACTIVITY_SIGMA,
            "cap": ACTIVITY_CAP,
            "event_days": EVENT_DAYS,
        }
        # One row per contact with what the events need (favourite category, active span,
        # activity weight); the contacts table is filled from it.
        self.cur.execute(
            """
            CREATE TEMP TABLE gen_contact AS
            SELECT id, created_at, fav, weight, consent, roll,
                   GREATEST(created_at, %(now)s - make_interval(days => %(event_days)s))
                     AS span_start,
                   LEAST(active_until, %(now)s) AS span_end
            FROM (
              SELECT g + %(base)s AS id,
                     c.created_at,
                     floor(12 * random() ^ 1.7)::int AS fav,
                     LEAST(exp(%(sigma)s * sqrt(-2 * ln(1 - random()))
                               * cos(2 * pi() * random())), %(cap)s) AS weight,
                     CASE WHEN random() < %(loyal)s THEN %(now)s
                          ELSE c.created_at + make_interval(
                                 secs => -ln(1 - random()) * %(lifetime)s * 86400)
                     END AS active_until,
                     random() AS consent,
                     random() AS roll
              FROM generate_series(1, %(n)s) AS g
              CROSS JOIN LATERAL (
                SELECT %(now)s - make_interval(secs => 86400 * (%(signup_days)s
                         - %(tau)s * ln(1 + ((g - random()) / %(n)s) * %(growth)s)))
                  AS created_at
              ) c
            ) x
            """,
            params,
        )
        self.cur.execute(
            """
            INSERT INTO wagtail_oneonone_contact (
              id, email, email_hash, first_name, last_name, time_zone, locale, birthday,
              customer_since, attributes, source, consent_status, consent_source, consent_at,
              consent_where, email_frequency, topics_opted_out, paused_until, created_at,
              updated_at, user_id)
            SELECT id, email,
                   encode(sha256(convert_to('wagtail_oneonone:' || email, 'UTF8')), 'hex'),
                   (%(first_names)s::text[])[1 + floor(random() * 12)::int],
                   (%(last_names)s::text[])[1 + floor(random() * 10)::int],
                   (%(time_zones)s::text[])[1 + floor(random() * 5)::int],
                   (%(locales)s::text[])[1 + floor(random() * 5)::int],
                   CASE WHEN random() < 0.35 THEN NULL
                        ELSE date '1950-01-01' + floor(random() * 21550)::int END,
                   NULL,
                   CASE WHEN roll < 0.12 THEN jsonb_build_object(
                          'vip', true, 'tier', CASE WHEN random() < 0.3 THEN 'gold'
                                                    ELSE 'silver' END,
                          'favourite_category', (%(categories)s::text[])[fav + 1],
                          'loyalty_points', floor(random() * 5000)::int)
                        WHEN roll < 0.33 THEN jsonb_build_object(
                          'vip', false,
                          'favourite_category', (%(categories)s::text[])[fav + 1],
                          'loyalty_points', floor(random() * 500)::int)
                        ELSE '{}'::jsonb END,
                   (%(sources)s::text[])[1 + floor(random() * 5)::int],
                   status,
                   CASE WHEN status = 'none' THEN '' ELSE 'benchmark' END,
                   CASE WHEN status = 'none' THEN NULL ELSE created_at END,
                   '', 'normal', '[]'::jsonb, NULL, created_at, created_at, NULL
            FROM (
              SELECT id, created_at, fav, roll,
                     %(prefix)s || id || '@example.com' AS email,
                     CASE WHEN consent < 0.60 THEN 'subscribed'
                          WHEN consent < 0.75 THEN 'unsubscribed'
                          WHEN consent < 0.80 THEN 'pending'
                          ELSE 'none' END AS status
              FROM gen_contact ORDER BY id
            ) c
            """,
            params,
        )
        self.cur.execute(
            """
            SELECT setval(pg_get_serial_sequence('wagtail_oneonone_contact', 'id'),
                          (SELECT MAX(id) FROM wagtail_oneonone_contact))
            """
        )
        self.cur.execute(
            """
            INSERT INTO wagtail_oneonone_suppression (email_hash, reason, detail, created_at)
            SELECT email_hash,
                   CASE WHEN consent_status = 'unsubscribed' THEN 'unsubscribe'
                        ELSE 'hard_bounce' END,
                   '', created_at
            FROM wagtail_oneonone_contact
            WHERE id > %(base)s AND (consent_status = 'unsubscribed' OR random() < 0.01)
            ON CONFLICT (email_hash) DO NOTHING
            """,
            params,
        )

    def plan(self) -> None:
        """How many events each contact gets: their weight's share of the total, rounded so
        that the counts add up to exactly what was asked."""
        made = self.made
        self.cur.execute(
            """
            CREATE TEMP TABLE gen_plan AS
            SELECT id, fav, span_start, span_end,
                   (floor(cum * %(m)s / total) - floor(previous * %(m)s / total))::int AS n
            FROM (
              SELECT *, lag(cum, 1, 0::float8) OVER (ORDER BY id) AS previous,
                     max(cum) OVER () AS total
              FROM (
                SELECT *, sum(w) OVER (ORDER BY id) AS cum
                FROM (
                  SELECT id, fav, span_start, span_end,
                         CASE WHEN span_end > span_start
                              THEN weight * (extract(epoch FROM span_end - span_start)::float8
                                             / 86400 + %(burst)s)
                              ELSE 0 END AS w
                  FROM gen_contact
                ) a
              ) b
            ) c
            """,
            {"m": made.events - made.anonymous_events, "burst": SIGN_UP_BURST_DAYS},
        )
        self.cur.execute("DROP TABLE gen_contact")

    def events(self) -> None:
        made = self.made
        thresholds = _thresholds()
        type_case = " ".join(f"WHEN u < {limit!r} THEN '{name}'" for name, limit in thresholds)
        params = {
            "now": made.now,
            "tau": ANONYMOUS_TAU_DAYS * 86400.0,
            "anon": made.anonymous_events,
            "event_days": EVENT_DAYS * 86400.0,
            "visitors": max(1, made.contacts * 2),
            "favourite": FAVOURITE_SHARE,
            "categories": CATEGORIES,
            "per_category": PRODUCTS_PER_CATEGORY,
        }

        def category(favourite: str) -> str:
            """The contact's favourite category, or one by popularity."""
            return (
                f"(CASE WHEN random() < %(favourite)s THEN {favourite} "
                "ELSE floor(12 * random() ^ 1.7)::int END)"
            )

        def sku(favourite: str) -> str:
            return f"{category(favourite)} * 1000 + floor(%(per_category)s * random() ^ 2)::int"

        # The skeleton: who, what and when, and the random draws every event needs, in
        # columns (a volatile expression a planner may copy would be drawn twice).
        self.cur.execute(
            f"""
            CREATE TEMP TABLE gen_event AS
            SELECT row_number() OVER (ORDER BY occurred_at) AS seq,
                   contact_id, visitor_id, occurred_at, type, fav,
                   floor(200 * random() ^ 2)::int AS page,
                   {sku("fav")} AS sku,
                   CASE WHEN type IN ('cart_updated', 'checkout_started', 'order_placed')
                        THEN 1 + floor(4 * random() ^ 2)::int ELSE 0 END AS lines
            FROM (
              SELECT contact_id, visitor_id, occurred_at,
                     CASE {type_case} ELSE 'email_replied' END AS type, fav
              FROM (
                SELECT p.id AS contact_id, NULL::text AS visitor_id, p.fav, random() AS u,
                       p.span_end - (p.span_end - p.span_start) * random() AS occurred_at
                FROM gen_plan p CROSS JOIN LATERAL generate_series(1, p.n) AS k
              ) e
              UNION ALL
              SELECT NULL, 'visitor-' || floor(random() * %(visitors)s)::bigint,
                     %(now)s - make_interval(secs => -%(tau)s * ln(1 - random() * (1 - exp(
                       -%(event_days)s / %(tau)s)))),
                     CASE WHEN random() < 0.6 THEN 'page_viewed' ELSE 'product_viewed' END,
                     floor(12 * random() ^ 1.7)::int
              FROM generate_series(1, %(anon)s)
            ) drawn
            ORDER BY occurred_at
            """,
            params,
        )
        # The item lines of carts, checkouts and orders (a minority of the events).
        self.cur.execute(
            f"""
            CREATE TEMP TABLE gen_items AS
            SELECT seq,
                   jsonb_agg(jsonb_build_object(
                     'product_id', 'sku-' || sku, 'name', 'Product ' || sku,
                     'category', (%(categories)s::text[])[sku / 1000 + 1],
                     'price', price, 'quantity', quantity) ORDER BY line) AS items,
                   sum(price * quantity) AS subtotal
            FROM (
              SELECT seq, line, sku, round(3 + ((sku * 7919) %% 11700) / 100.0, 2) AS price,
                     quantity
              FROM (
                SELECT e.seq, line, {sku("e.fav")} AS sku,
                       1 + floor(3 * random() ^ 3)::int AS quantity
                FROM gen_event e CROSS JOIN LATERAL generate_series(1, e.lines) AS line
                WHERE e.lines > 0
              ) drawn
            ) priced
            GROUP BY seq
            """,
            params,
        )
        self.cur.execute("ANALYZE gen_items")
        self.cur.execute(
            """
            INSERT INTO wagtail_oneonone_event (
              contact_id, visitor_id, type, occurred_at, recorded_at, value, currency,
              properties, dedup_key)
            SELECT contact_id, visitor_id, type, occurred_at, occurred_at,
                   CASE WHEN type = 'order_placed' THEN order_total
                        WHEN type IN ('cart_updated', 'checkout_started') THEN subtotal END,
                   CASE WHEN type IN ('cart_updated', 'checkout_started', 'order_placed')
                        THEN 'GBP' ELSE '' END,
                   CASE type
                     WHEN 'page_viewed' THEN jsonb_build_object(
                       'url', '/pages/' || page || '/', 'title', 'Page ' || page,
                       'page_id', page)
                     WHEN 'product_viewed' THEN jsonb_build_object(
                       'product_id', 'sku-' || sku, 'name', 'Product ' || sku,
                       'category', (%(categories)s::text[])[sku / 1000 + 1],
                       'price', round(3 + ((sku * 7919) %% 11700) / 100.0, 2),
                       'url', '/shop/products/sku-' || sku || '/')
                     WHEN 'cart_updated' THEN jsonb_build_object(
                       'items', items, 'cart_total', subtotal,
                       'product_id', items->0->'product_id',
                       'action', CASE WHEN random() < 0.7 THEN 'added' ELSE 'removed' END)
                     WHEN 'checkout_started' THEN jsonb_build_object(
                       'items', items, 'cart_total', subtotal)
                     WHEN 'order_placed' THEN jsonb_build_object(
                       'order_id', 'order-' || seq, 'items', items, 'total', order_total,
                       'shipping', order_total - subtotal)
                     ELSE jsonb_build_object(
                       'message_id', floor(random() * 1000000)::int,
                       'source', CASE WHEN random() < 0.6 THEN 'campaign' ELSE 'flow' END)
                       || CASE WHEN type = 'email_clicked'
                               THEN jsonb_build_object('url', '/shop/new/') ELSE '{}' END
                   END,
                   NULL
            FROM (
              SELECT s.*, li.items, li.subtotal,
                     li.subtotal + CASE WHEN li.subtotal < 50 THEN 3.95 ELSE 0 END AS order_total
              -- A hash join reads gen_event in the order it was written: time order.
              FROM gen_event s LEFT JOIN gen_items li USING (seq)
            ) x
            """,
            params,
        )

    def customer_since(self) -> None:
        self.cur.execute(
            """
            UPDATE wagtail_oneonone_contact c SET customer_since = f.first_day
            FROM (
              SELECT contact_id, min(occurred_at)::date AS first_day
              FROM wagtail_oneonone_event
              WHERE type = 'order_placed' AND contact_id > %s
              GROUP BY contact_id
            ) f
            WHERE c.id = f.contact_id
            """,
            [self.base],
        )

    def vacuum(self) -> None:
        with self.connection.cursor() as cursor:
            for table in self.TABLES:
                # Sets the visibility map (index-only scans) and the planner's statistics.
                cursor.execute(f"VACUUM (ANALYZE) {table}")


# SQLite: generated in Python -----------------------------------------------------------


class _SQLite(_Builder):
    TABLES = ("wagtail_oneonone_event", "wagtail_oneonone_contact")

    def run(self) -> None:
        from django.db import transaction

        self.rng = random.Random(self.made.seed)
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cur:
            self.cur = cur
            indexes = self.drop_indexes()
            self.timed("contacts", self.contacts)
            self.timed("plan", self.plan)
            self.timed("events", self.events)
            self.timed("customer_since", self.customer_since)
            self.timed("indexes", lambda: self.create_indexes(indexes))

    def drop_indexes(self) -> list[str]:
        placeholders = ", ".join(["%s"] * len(self.TABLES))
        self.cur.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({placeholders})",
            list(self.TABLES),
        )
        rows = self.cur.fetchall()
        for name, _sql in rows:
            self.cur.execute(f'DROP INDEX "{name}"')
        return [sql for _name, sql in rows]

    def create_indexes(self, definitions: list[str]) -> None:
        for definition in definitions:
            self.cur.execute(definition)

    def when(self, moment: dt.datetime) -> str:
        # What Django's adapt_datetimefield_value() stores: naive UTC, str().
        return str(moment.replace(tzinfo=None))  # every moment here is in UTC

    def contacts(self) -> None:
        made, rng = self.made, self.rng
        now = made.now
        growth = math.expm1(SIGNUP_DAYS / SIGNUP_TAU_DAYS)
        event_start = now - dt.timedelta(days=EVENT_DAYS)
        self.people: list[tuple[int, int, float, dt.datetime, dt.datetime]] = []
        rows = []
        suppressions = []
        for g in range(1, made.contacts + 1):
            pk = self.base + g
            age_days = SIGNUP_DAYS - SIGNUP_TAU_DAYS * math.log1p(
                ((g - rng.random()) / made.contacts) * growth
            )
            created = now - dt.timedelta(days=age_days)
            fav = int(12 * rng.random() ** 1.7)
            z = math.sqrt(-2 * math.log(1 - rng.random())) * math.cos(2 * math.pi * rng.random())
            weight = min(math.exp(ACTIVITY_SIGMA * z), ACTIVITY_CAP)
            if rng.random() < LOYAL_SHARE:
                until = now
            else:
                until = created + dt.timedelta(days=-math.log(1 - rng.random()) * LIFETIME_DAYS)
            span_start, span_end = max(created, event_start), min(until, now)
            active_days = (span_end - span_start).total_seconds() / 86400
            self.people.append(
                (
                    pk,
                    fav,
                    weight * (active_days + SIGN_UP_BURST_DAYS) if active_days > 0 else 0.0,
                    span_start,
                    span_end,
                )
            )
            consent, roll = rng.random(), rng.random()
            status = (
                "subscribed"
                if consent < 0.60
                else "unsubscribed"
                if consent < 0.75
                else "pending"
                if consent < 0.80
                else "none"
            )
            email = f"{self.prefix}{pk}@example.com"
            digest = hashlib.sha256(b"wagtail_oneonone:" + email.encode()).hexdigest()
            if roll < 0.12:
                attributes: dict[str, Any] = {
                    "vip": True,
                    "tier": "gold" if rng.random() < 0.3 else "silver",
                    "favourite_category": CATEGORIES[fav],
                    "loyalty_points": int(rng.random() * 5000),
                }
            elif roll < 0.33:
                attributes = {
                    "vip": False,
                    "favourite_category": CATEGORIES[fav],
                    "loyalty_points": int(rng.random() * 500),
                }
            else:
                attributes = {}
            birthday = (
                None
                if rng.random() < 0.35
                else (dt.date(1950, 1, 1) + dt.timedelta(days=int(rng.random() * 21550)))
            )
            created_text = self.when(created)
            rows.append(
                (
                    pk,
                    email,
                    digest,
                    FIRST_NAMES[int(rng.random() * 12)],
                    LAST_NAMES[int(rng.random() * 10)],
                    TIME_ZONES[int(rng.random() * 5)],
                    LOCALES[int(rng.random() * 5)],
                    birthday.isoformat() if birthday else None,
                    json.dumps(attributes),
                    SOURCES[int(rng.random() * 5)],
                    status,
                    "" if status == "none" else "benchmark",
                    None if status == "none" else created_text,
                    created_text,
                )
            )
            if status == "unsubscribed":
                suppressions.append((digest, "unsubscribe", created_text))
            elif rng.random() < 0.01:
                suppressions.append((digest, "hard_bounce", created_text))
        self.cur.executemany(
            """
            INSERT INTO wagtail_oneonone_contact (
              id, email, email_hash, first_name, last_name, time_zone, locale, birthday,
              customer_since, attributes, source, consent_status, consent_source, consent_at,
              consent_where, email_frequency, topics_opted_out, paused_until, created_at,
              updated_at, user_id)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s, %s, %s, %s, '', 'normal',
                    '[]', NULL, %s, %s, NULL)
            """,
            [(*row, row[-1]) for row in rows],
        )
        self.cur.executemany(
            "INSERT OR IGNORE INTO wagtail_oneonone_suppression "
            "(email_hash, reason, detail, created_at) VALUES (%s, %s, '', %s)",
            suppressions,
        )

    def plan(self) -> None:
        wanted = self.made.events - self.made.anonymous_events
        total = sum(person[2] for person in self.people) or 1.0
        cumulative, previous = 0.0, 0
        self.counts = []
        for person in self.people:
            cumulative += person[2]
            reached = math.floor(cumulative * wanted / total)
            self.counts.append(reached - previous)
            previous = reached
        self.counts[-1] += wanted - previous  # float rounding at the very end

    def events(self) -> None:
        made, rng = self.made, self.rng
        tau = ANONYMOUS_TAU_DAYS * 86400.0
        limits = [limit for _name, limit in _thresholds()]
        names = [name for name, _limit in EVENT_MIX]
        skeleton: list[tuple[dt.datetime, int | None, str | None, str, int]] = []
        for (pk, fav, _weight, start, end), count in zip(self.people, self.counts, strict=True):
            span = end - start
            for _ in range(count):
                u = rng.random()
                kind = names[min(bisect.bisect_right(limits, u), len(names) - 1)]
                skeleton.append((end - span * rng.random(), pk, None, kind, fav))
        visitors = max(1, made.contacts * 2)
        shrink = 1 - math.exp(-EVENT_DAYS * 86400.0 / tau)
        for _ in range(made.anonymous_events):
            visitor = f"visitor-{int(rng.random() * visitors)}"
            age = -tau * math.log(1 - rng.random() * shrink)
            kind = "page_viewed" if rng.random() < 0.6 else "product_viewed"
            skeleton.append(
                (
                    made.now - dt.timedelta(seconds=age),
                    None,
                    visitor,
                    kind,
                    int(12 * rng.random() ** 1.7),
                )
            )
        skeleton.sort(key=lambda row: row[0])

        def sku(fav: int) -> int:
            category = fav if rng.random() < FAVOURITE_SHARE else int(12 * rng.random() ** 1.7)
            return category * 1000 + int(PRODUCTS_PER_CATEGORY * rng.random() ** 2)

        prices = {
            number: (Decimal(3) + Decimal((number * 7919) % 11700) / 100).quantize(Decimal("0.01"))
            for category in range(len(CATEGORIES))
            for number in range(category * 1000, category * 1000 + PRODUCTS_PER_CATEGORY)
        }
        price = prices.__getitem__

        rows = []
        self.first_orders: dict[int, dt.date] = {}
        for seq, (occurred, pk, visitor, kind, fav) in enumerate(skeleton, start=1):
            page = int(200 * rng.random() ** 2)
            number = sku(fav)
            value: Decimal | None = None
            properties: dict[str, Any]
            if kind in WITH_ITEMS:
                items = []
                subtotal = Decimal(0)
                for _ in range(1 + int(4 * rng.random() ** 2)):
                    line = sku(fav)
                    quantity = 1 + int(3 * rng.random() ** 3)
                    items.append(
                        {
                            "product_id": f"sku-{line}",
                            "name": f"Product {line}",
                            "category": CATEGORIES[line // 1000],
                            "price": float(price(line)),
                            "quantity": quantity,
                        }
                    )
                    subtotal += price(line) * quantity
                if kind == "order_placed":
                    total = subtotal + (Decimal("3.95") if subtotal < 50 else Decimal(0))
                    properties = {
                        "order_id": f"order-{seq}",
                        "items": items,
                        "total": float(total),
                        "shipping": float(total - subtotal),
                    }
                    value = total
                    if pk is not None and pk not in self.first_orders:
                        self.first_orders[pk] = occurred.date()
                else:
                    properties = {"items": items, "cart_total": float(subtotal)}
                    if kind == "cart_updated":
                        properties["product_id"] = items[0]["product_id"]
                        properties["action"] = "added" if rng.random() < 0.7 else "removed"
                    value = subtotal
            elif kind == "page_viewed":
                properties = {"url": f"/pages/{page}/", "title": f"Page {page}", "page_id": page}
            elif kind == "product_viewed":
                properties = {
                    "product_id": f"sku-{number}",
                    "name": f"Product {number}",
                    "category": CATEGORIES[number // 1000],
                    "price": float(price(number)),
                    "url": f"/shop/products/sku-{number}/",
                }
            else:
                properties = {
                    "message_id": int(rng.random() * 1_000_000),
                    "source": "campaign" if rng.random() < 0.6 else "flow",
                }
                if kind == "email_clicked":
                    properties["url"] = "/shop/new/"
            moment = self.when(occurred)
            rows.append(
                (
                    pk,
                    visitor,
                    kind,
                    moment,
                    moment,
                    None if value is None else str(value),
                    "" if value is None else "GBP",
                    json.dumps(properties),
                )
            )
            if len(rows) >= 50_000:
                self.insert_events(rows)
                rows = []
        self.insert_events(rows)

    def insert_events(self, rows: list[tuple[Any, ...]]) -> None:
        self.cur.executemany(
            """
            INSERT INTO wagtail_oneonone_event (
              contact_id, visitor_id, type, occurred_at, recorded_at, value, currency,
              properties, dedup_key)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL)
            """,
            rows,
        )

    def customer_since(self) -> None:
        # The UTC day of each contact's first order, as PostgreSQL's occurred_at::date.
        self.cur.executemany(
            "UPDATE wagtail_oneonone_contact SET customer_since = %s WHERE id = %s",
            [(day.isoformat(), pk) for pk, day in self.first_orders.items()],
        )
