"""``manage.py load_demo``: stock the example shop and give it a year of customers."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...demo.flows import FLOW_DAYS, FlowsReplay
from ...demo.loader import ensure_admin, is_loaded, load_demo, reset_demo


class Command(BaseCommand):
    help = (
        "Create the demo shop (pages, products, images), contacts with a year of events "
        "and orders, and an admin user. Does nothing if the demo is loaded, unless --reset."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument(
            "--contacts", type=int, default=500, help="how many contacts (default 500)"
        )
        parser.add_argument(
            "--products", type=int, default=None, help="limit the catalogue (default: all 48)"
        )
        parser.add_argument(
            "--now",
            type=_aware_datetime,
            default=None,
            help="the moment the history ends, ISO 8601 (default: now); "
            "with --seed it makes the data identical run to run",
        )
        parser.add_argument(
            "--flow-days",
            type=int,
            default=FLOW_DAYS,
            help="turn the built-in flows on this many days before the end of the history "
            f"and run them over those days (default {FLOW_DAYS}; 0: no flows)",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete the demo's pages, customers, orders and events first, then reload",
        )
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--admin-password", default="oneonone-demo")
        parser.add_argument("--admin-email", default="admin@example.com")
        parser.add_argument("--no-admin", action="store_true", help="do not create an admin")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["contacts"] < 0:
            raise CommandError("--contacts must be 0 or more.")
        if options["products"] is not None and options["products"] < 1:
            raise CommandError("--products must be 1 or more.")
        if not 0 <= options["flow_days"] <= 300:
            raise CommandError("--flow-days must be between 0 and 300.")
        if is_loaded() and not options["reset"]:
            self.stdout.write("The demo is already loaded; pass --reset to replace it.")
        else:
            if options["reset"]:
                reset_demo()
                self.stdout.write("Removed the previous demo data.")
            started = time.monotonic()
            summary = load_demo(
                seed=options["seed"],
                contacts=options["contacts"],
                products=options["products"],
                now=options["now"],
                flow_days=options["flow_days"],
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Loaded the demo in {time.monotonic() - started:.1f} s: "
                    f"{summary.products} products, {summary.contacts} contacts "
                    f"({summary.users} with accounts), {summary.anonymous_visitors} anonymous "
                    f"visitors, {summary.orders} orders, {summary.events} events."
                )
            )
            if summary.flows is not None:
                self._describe_flows(summary.flows)
        if not options["no_admin"]:
            self._ensure_admin(options)

    def _describe_flows(self, flows: FlowsReplay) -> None:
        self.stdout.write(
            f"The built-in flows were turned on {flows.since:%d %b %Y %H:%M} UTC and ran over "
            "the days since (contacts who entered, emails sent):"
        )
        for name, entered in sorted(flows.entered.items()):
            self.stdout.write(f"  {name}: {entered} entered, {flows.sent[name]} sent")

    def _ensure_admin(self, options: dict[str, Any]) -> None:
        username, password = options["admin_username"], options["admin_password"]
        if ensure_admin(username, password, options["admin_email"]):
            self.stdout.write(f"Created the admin user. Log in as {username} / {password}")
        else:
            self.stdout.write(f"The admin user {username!r} exists; its password is unchanged.")


def _aware_datetime(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 datetime") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2025-06-01T12:00:00+00:00")
    return moment
