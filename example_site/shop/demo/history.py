"""A year of shopping behaviour, simulated session by session.

Rows are built in memory (events, orders, consent changes) and written in bulk by the
loader. Event properties go through the app's own schemas, so they have exactly the
shapes the live site records through ``track()``.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from wagtail.models import Page

from wagtail_oneonone.events.types import get_event_type
from wagtail_oneonone.models import Contact, Event

from ..cart import CURRENCY, shipping_for
from ..models import Order, OrderLine, ProductPage
from ..tracking import order_dedup_key, order_properties, product_item

_CENT = Decimal("0.01")
_REFERRERS = [
    "https://www.google.com/",
    "https://www.google.co.uk/",
    "https://duckduckgo.com/",
    "https://www.instagram.com/",
    "https://www.pinterest.com/",
]


#: signed_up properties per way of signing up, as the live forms send them.
SIGN_UP_FORMS: dict[str, dict[str, str]] = {
    "sign-up": {"source": "shop", "form": "sign-up"},
    "newsletter": {"source": "footer", "form": "newsletter"},
}


@dataclass(frozen=True)
class Persona:
    """How one kind of customer behaves over the year."""

    weight: float
    sessions: tuple[int, int]
    orders: tuple[int, int]
    first_seen_days_ago: tuple[int, int]
    basket_lines: tuple[int, int]
    browse_cart_rate: float = 0.1  # chance a session without a purchase still fills a cart


PERSONAS: dict[str, Persona] = {
    "browser": Persona(0.38, (2, 8), (0, 0), (5, 365), (1, 2), 0.08),
    "one_time": Persona(0.22, (3, 9), (1, 1), (10, 365), (1, 3)),
    "repeat": Persona(0.17, (6, 16), (2, 5), (60, 365), (1, 3), 0.12),
    "vip": Persona(0.03, (18, 36), (8, 14), (300, 365), (2, 4), 0.15),
    # Bought in their first months and have not been back for half a year.
    "lapsed": Persona(0.12, (3, 7), (1, 3), (240, 365), (1, 2)),
    # Left a full cart in the last few days (on top of whatever they did before).
    "abandoner": Persona(0.08, (3, 9), (0, 2), (15, 365), (1, 3), 0.15),
}


#: When the shop imported its customer list: a year and ten days before "now".
IMPORT_DAYS_AGO = 375


@dataclass
class Shopper:
    """One browser's owner: a contact-to-be, or an anonymous visitor (``contact`` None)."""

    visitor_id: str
    zone: ZoneInfo
    preferred_hour: int
    favourite: str
    contact: Contact | None = None
    user: Any = None  # an unsaved instance of the user model
    # Until identified, events carry the visitor id (as merged live events do).
    identified_at: dt.datetime | None = None
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    orders: list[Order] = field(default_factory=list)

    def subject(self, when: dt.datetime) -> dict[str, Any]:
        identified = (
            self.contact is not None
            and self.identified_at is not None
            and when >= self.identified_at
        )
        return {
            "contact": self.contact,
            "visitor_id": None if identified else self.visitor_id,
        }


class HistoryWriter:
    """Simulates sessions and collects the rows they leave behind."""

    def __init__(
        self,
        rng: random.Random,
        products: Sequence[ProductPage],
        home: Page,
        index: Page,
        now: dt.datetime,
    ) -> None:
        self.rng = rng
        self.now = now
        self.products = list(products)
        self.by_category: dict[str, list[ProductPage]] = {}
        for product in self.products:
            self.by_category.setdefault(product.category, []).append(product)
        # Built once per product (renditions, URLs): the same dicts the live site sends.
        self.items = {product.pk: product_item(product, 1) for product in self.products}
        self.pages = {
            "home": self._page_properties(home),
            "index": self._page_properties(index),
            **{product.pk: self._page_properties(product) for product in self.products},
        }
        self.events: list[Event] = []
        self.orders: list[Order] = []
        self.lines: list[OrderLine] = []
        self._next_order = 10001

    @staticmethod
    def _page_properties(page: Page) -> dict[str, Any]:
        return {
            "url": page.get_url() or "/",
            "title": page.title,
            "page_id": page.pk,
            "page_type": page.specific_class._meta.label_lower,
        }

    def new_visitor_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # Time ----------------------------------------------------------------------------

    def local_moment(
        self, shopper: Shopper, earliest: dt.datetime, latest: dt.datetime
    ) -> dt.datetime:
        """A moment in [earliest, latest] at an hour this shopper tends to shop."""
        rng = self.rng
        span = (latest - earliest).total_seconds()
        for _attempt in range(30):
            moment = earliest + dt.timedelta(seconds=span * rng.random())
            # More shopping before Christmas, less in January.
            if rng.random() > {11: 1.0, 12: 1.0, 1: 0.5}.get(moment.month, 0.65):
                continue
            hour = min(23, max(6, round(rng.gauss(shopper.preferred_hour, 1.5))))
            local_day = moment.astimezone(shopper.zone).date()
            local = dt.datetime.combine(
                local_day, dt.time(hour, rng.randint(0, 59), rng.randint(0, 59)), shopper.zone
            )
            candidate = local.astimezone(dt.UTC)
            if earliest <= candidate <= latest:
                return candidate
        return earliest + dt.timedelta(seconds=span * rng.random())

    def _later(self, moment: dt.datetime, low: int, high: int) -> dt.datetime:
        return moment + dt.timedelta(seconds=self.rng.randint(low, high))

    # Rows ----------------------------------------------------------------------------

    def event(
        self,
        type_name: str,
        when: dt.datetime,
        shopper: Shopper,
        properties: dict[str, Any],
        *,
        dedup_key: str | None = None,
    ) -> None:
        """Add one event shaped as ``track()`` would store it."""
        shopper.last_seen = max(when, shopper.last_seen or when)
        event_type = get_event_type(type_name)
        cleaned = event_type.clean(properties)
        value = None
        if event_type.value_property and cleaned.get(event_type.value_property) is not None:
            value = Decimal(str(cleaned[event_type.value_property])).quantize(_CENT)
        self.events.append(
            Event(
                type=type_name,
                occurred_at=when,
                value=value,
                currency=CURRENCY if value is not None else "",
                properties=cleaned,
                dedup_key=dedup_key,
                **shopper.subject(when),
            )
        )

    def _cart_properties(self, cart: dict[int, int]) -> tuple[list[dict[str, Any]], Decimal]:
        items = [{**self.items[pk], "quantity": quantity} for pk, quantity in cart.items()]
        total = sum(
            (Decimal(str(self.items[pk]["price"])) * qty for pk, qty in cart.items()),
            Decimal("0.00"),
        )
        return items, total

    def _cart_event(
        self, when: dt.datetime, shopper: Shopper, cart: dict[int, int], action: str, pk: int
    ) -> None:
        items, total = self._cart_properties(cart)
        self.event(
            "cart_updated",
            when,
            shopper,
            {"items": items, "cart_total": total, "action": action, "product_id": str(pk)},
        )

    # Behaviour -----------------------------------------------------------------------

    def pick_product(self, shopper: Shopper) -> ProductPage:
        favourites = self.by_category.get(shopper.favourite)
        if favourites and self.rng.random() < 0.6:
            return self.rng.choice(favourites)
        return self.rng.choice(self.products)

    def session(
        self,
        shopper: Shopper,
        start: dt.datetime,
        *,
        buy: bool = False,
        cart_rate: float = 0.1,
        checkout_rate: float = 0.35,
        basket_lines: tuple[int, int] = (1, 3),
    ) -> dt.datetime:
        """One visit: landing, product views, maybe a cart, checkout and order."""
        rng, moment = self.rng, start
        referrer = rng.choice(_REFERRERS) if rng.random() < 0.4 else None
        landing = rng.choices(["home", "index", "product"], weights=[45, 25, 30])[0]
        if landing != "product":
            properties = dict(self.pages[landing])
            if landing == "index" and rng.random() < 0.5:
                properties["url"] += f"?category={shopper.favourite}"
            self._page_view(moment, shopper, properties, referrer)
            referrer = None
        viewed: list[ProductPage] = []
        for _view in range(rng.randint(1, 5)):
            product = self.pick_product(shopper)
            moment = self._later(moment, 15, 240)
            self._page_view(moment, shopper, dict(self.pages[product.pk]), referrer)
            referrer = None
            view = dict(self.items[product.pk])
            del view["quantity"]
            self.event("product_viewed", moment, shopper, view)
            viewed.append(product)
        if not (buy or rng.random() < cart_rate):
            return moment
        cart: dict[int, int] = {}
        choices = list(dict.fromkeys(viewed))
        for _line in range(rng.randint(*basket_lines)):
            product = rng.choice(choices) if choices else self.pick_product(shopper)
            if choices:
                choices.remove(product)
            cart[product.pk] = cart.get(product.pk, 0) + (2 if rng.random() < 0.12 else 1)
            moment = self._later(moment, 10, 120)
            self._cart_event(moment, shopper, cart, "added", product.pk)
        if len(cart) > 1 and rng.random() < 0.15:
            dropped = rng.choice(list(cart))
            del cart[dropped]
            moment = self._later(moment, 10, 90)
            self._cart_event(moment, shopper, cart, "removed", dropped)
        if not (buy or rng.random() < checkout_rate):
            return moment
        moment = self._later(moment, 20, 300)
        items, total = self._cart_properties(cart)
        self.event("checkout_started", moment, shopper, {"items": items, "cart_total": total})
        if buy:
            moment = self._later(moment, 60, 400)
            self.place_order(moment, shopper, cart)
        return moment

    def _page_view(
        self, when: dt.datetime, shopper: Shopper, properties: dict[str, Any], referrer: str | None
    ) -> None:
        if referrer:
            properties["referrer"] = referrer
        self.event("page_viewed", when, shopper, properties)

    def place_order(self, when: dt.datetime, shopper: Shopper, cart: dict[int, int]) -> Order:
        contact = shopper.contact
        assert contact is not None, "anonymous visitors do not buy in the demo"
        if shopper.identified_at is None:
            shopper.identified_at = when  # the checkout is where we learnt who they are
        by_id = {product.pk: product for product in self.products}
        subtotal = sum(
            (by_id[pk].price * quantity for pk, quantity in cart.items()), Decimal("0.00")
        )
        shipping = shipping_for(subtotal)
        order = Order(
            number=f"D{self._next_order}",
            user=shopper.user,
            email=contact.email,
            first_name=contact.first_name,
            last_name=contact.last_name,
            subtotal=subtotal,
            shipping=shipping,
            total=subtotal + shipping,
            currency=CURRENCY,
            created_at=when,
        )
        self._next_order += 1
        lines = [
            OrderLine(
                order=order,
                product=by_id[pk],
                name=by_id[pk].title,
                sku=by_id[pk].sku,
                category=by_id[pk].category,
                quantity=quantity,
                unit_price=by_id[pk].price,
            )
            for pk, quantity in cart.items()
        ]
        self.orders.append(order)
        self.lines.extend(lines)
        shopper.orders.append(order)
        self.event(
            "order_placed",
            when,
            shopper,
            order_properties(order, lines),
            dedup_key=order_dedup_key(order.number),
        )
        return order

    # Whole lives ---------------------------------------------------------------------

    def live_contact(self, shopper: Shopper, persona: Persona, kind: str, source: str) -> None:
        """Every session of one contact's year, in order.

        ``source`` says how they became known: ``checkout`` (at their first order),
        ``sign-up`` or ``newsletter`` (at the end of their first visit) or ``import``
        (the shop's customer list, imported on ``IMPORT_DAYS_AGO`` before their first visit:
        a year before the last days, so the sign-up anniversary flow has them to greet).
        """
        rng, now = self.rng, self.now
        latest_start = now - dt.timedelta(hours=2)
        first_seen = now - dt.timedelta(days=rng.uniform(*persona.first_seen_days_ago))
        first_seen = min(first_seen, latest_start - dt.timedelta(days=1))
        shopper.first_seen = first_seen
        if source == "import":
            shopper.identified_at = now - dt.timedelta(days=IMPORT_DAYS_AGO)
        if kind == "lapsed":
            last_active = min(
                first_seen + dt.timedelta(days=rng.uniform(30, 100)),
                now - dt.timedelta(days=170),
            )
        else:
            last_active = max(
                first_seen + dt.timedelta(hours=1),
                latest_start - dt.timedelta(days=rng.uniform(0, 25)),
            )
        count = rng.randint(*persona.sessions)
        later = (self.local_moment(shopper, first_seen, last_active) for _ in range(count - 1))
        starts = [first_seen, *sorted(later)]
        buying = set(rng.sample(range(count), min(count, rng.randint(*persona.orders))))
        previous_end = first_seen
        for number, start in enumerate(starts):
            start = max(start, previous_end + dt.timedelta(minutes=30))
            if start > latest_start:
                break
            previous_end = self.session(
                shopper,
                start,
                buy=number in buying,
                cart_rate=persona.browse_cart_rate,
                basket_lines=persona.basket_lines,
            )
            if number == 0 and source in SIGN_UP_FORMS:
                signed_up_at = self._later(previous_end, 20, 120)
                shopper.identified_at = shopper.identified_at or signed_up_at
                self.event("signed_up", signed_up_at, shopper, SIGN_UP_FORMS[source])
        if kind == "abandoner":
            start = now - dt.timedelta(hours=rng.uniform(2, 96))
            if start > previous_end + dt.timedelta(minutes=30):
                self.session(shopper, start, cart_rate=1.0, checkout_rate=0.5)

    def live_visitor(self, shopper: Shopper) -> None:
        """An anonymous visitor: a few recent visits, never identified."""
        latest_start = self.now - dt.timedelta(hours=2)
        earliest = self.now - dt.timedelta(days=90)
        for _visit in range(self.rng.randint(1, 3)):
            start = self.local_moment(shopper, earliest, latest_start)
            self.session(shopper, start, cart_rate=0.12, checkout_rate=0.25)
