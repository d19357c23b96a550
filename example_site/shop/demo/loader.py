"""Loading (and resetting) the demo: catalogue, contacts, a year of history, an admin."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from wagtail.images import get_image_model
from wagtail.models import Collection

from wagtail_oneonone.models import (
    Campaign,
    ConsentChange,
    Contact,
    EmailLayout,
    EmailTemplate,
    Event,
    Flow,
    FlowCursor,
    Segment,
    Suppression,
)

from ..models import Category, HomePage, Order, OrderLine
from .campaigns import SEGMENTS, install_campaign
from .catalogue import COLLECTION_NAME, build_catalogue, build_page_tree
from .emails import install_email_templates
from .flows import FLOW_DAYS, FLOW_SEGMENT_SLUGS, FlowsReplay, replay_flows
from .history import PERSONAS, HistoryWriter, Shopper
from .people import REGIONS, make_person

#: How a contact became known → consent source and the page it was given on.
CONSENT_SOURCES: dict[str, tuple[str, str]] = {
    "checkout": ("checkout", "/shop/checkout/"),
    "sign-up": ("sign-up form", "/shop/signup/"),
    "newsletter": ("newsletter form", "/"),
    "import": ("import: 2024 customer list", ""),
}
_UNSUBSCRIBE_SOURCES = ["unsubscribe link", "preference centre", "list-unsubscribe header"]


@dataclass(frozen=True)
class DemoSummary:
    products: int
    contacts: int
    anonymous_visitors: int
    events: int
    orders: int
    users: int
    flows: FlowsReplay | None = None


def is_loaded() -> bool:
    return HomePage.objects.exists()


def reset_demo() -> None:
    """Delete what the demo made: pages, product images, customers, orders and events.

    Staff accounts stay; customer accounts (non-staff users) go with their contacts.
    """
    with transaction.atomic():
        Event.objects.all().delete()
        Contact.objects.all().delete()
        Suppression.objects.all().delete()
        EmailTemplate.objects.all().delete()
        Campaign.objects.all().delete()  # with their sends and revisions
        EmailLayout.objects.all().delete()
        Flow.objects.all().delete()  # with their enrollments
        FlowCursor.objects.all().delete()
        slugs = [fields["slug"] for fields in SEGMENTS] + FLOW_SEGMENT_SLUGS
        Segment.objects.filter(slug__in=slugs).delete()
        Order.objects.all().delete()
        get_user_model().objects.filter(is_staff=False, is_superuser=False).delete()
        for home in HomePage.objects.all():
            home.delete()
        collection = Collection.objects.filter(name=COLLECTION_NAME).first()
        if collection is not None:
            for image in get_image_model().objects.filter(collection=collection):
                image.delete()
            collection.delete()


def ensure_admin(username: str, password: str, email: str = "admin@example.com") -> bool:
    """Create the superuser unless that username exists; True if it was created."""
    users = get_user_model().objects
    if users.filter(username=username).exists():
        return False
    users.create_superuser(username=username, email=email, password=password)
    return True


def load_demo(
    *,
    seed: int = 42,
    contacts: int = 500,
    products: int | None = None,
    now: dt.datetime | None = None,
    flow_days: int = FLOW_DAYS,
) -> DemoSummary:
    """Build the shop and a year of history. The same seed gives the same shop.

    The built-in flows are turned on ``flow_days`` before ``now`` and those days are
    replayed through them (see ``demo.flows``); 0 leaves the flows out.
    """
    rng = random.Random(seed)
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    with transaction.atomic():
        home, index = build_page_tree()
        catalogue = build_catalogue(index, rng, limit=products)
        writer = HistoryWriter(rng, catalogue, home, index, now)
        shoppers = [_live_one_contact(writer, rng, number, now) for number in range(contacts)]
        anonymous = contacts * 3 // 5
        for _visitor in range(anonymous):
            writer.live_visitor(_new_shopper(writer, rng))
        users = _save_people(shoppers, rng, now)
        Order.objects.bulk_create(writer.orders, batch_size=500)
        OrderLine.objects.bulk_create(writer.lines, batch_size=1000)
        # In the order they happened, as a live shop's log is (the flows read it so).
        events = sorted(writer.events, key=lambda event: event.occurred_at)
        since = now - dt.timedelta(days=flow_days)
        recent = next((n for n, e in enumerate(events) if e.occurred_at > since), len(events))
        Event.objects.bulk_create(events[:recent] if flow_days else events, batch_size=2000)
        install_email_templates()
        install_campaign(index)
        flows = replay_flows(events[recent:], since, now) if flow_days else None
    return DemoSummary(
        products=len(catalogue),
        contacts=len(shoppers),
        anonymous_visitors=anonymous,
        events=len(writer.events),
        orders=len(writer.orders),
        users=users,
        flows=flows,
    )


def _new_shopper(writer: HistoryWriter, rng: random.Random) -> Shopper:
    time_zone = rng.choices(REGIONS, weights=[region[2] for region in REGIONS])[0][0]
    return Shopper(
        visitor_id=writer.new_visitor_id(),
        zone=ZoneInfo(time_zone),
        preferred_hour=rng.randint(7, 22),
        favourite=rng.choice(Category.values),
    )


def _live_one_contact(
    writer: HistoryWriter, rng: random.Random, number: int, now: dt.datetime
) -> tuple[Shopper, str, str]:
    person = make_person(rng, number, now.date())
    kind = rng.choices(list(PERSONAS), weights=[p.weight for p in PERSONAS.values()])[0]
    persona = PERSONAS[kind]
    buys = persona.orders[1] > 0
    source = rng.choices(
        ["checkout", "sign-up", "newsletter", "import"],
        weights=[55, 25, 15, 5] if buys else [0, 45, 45, 10],
    )[0]
    favourite = rng.choice(Category.values)
    contact = Contact(
        email=person.email,
        first_name=person.first_name,
        last_name=person.last_name,
        time_zone=person.time_zone,
        locale=person.locale,
        birthday=person.birthday,
        source=source,
        attributes=_attributes(rng, kind, favourite),
    )
    shopper = Shopper(
        visitor_id=writer.new_visitor_id(),
        zone=ZoneInfo(person.time_zone),
        preferred_hour=person.preferred_hour,
        favourite=favourite,
        contact=contact,
    )
    if source == "sign-up":
        # Accounts with no usable password: demo customers cannot log in, nobody can.
        user = get_user_model()(
            username=person.email,
            email=person.email,
            first_name=person.first_name,
            last_name=person.last_name,
        )
        user.set_unusable_password()
        shopper.user = user
        contact.user = user
    writer.live_contact(shopper, persona, kind, source)
    return shopper, kind, source


def _attributes(rng: random.Random, kind: str, favourite: str) -> dict[str, object]:
    attributes: dict[str, object] = {}
    if rng.random() < 0.5:
        attributes["favourite_category"] = favourite
    if rng.random() < 0.3:
        attributes["shoe_size"] = rng.randint(36, 46)  # EU sizes
    if kind == "vip":
        attributes["loyalty_tier"] = "gold"
    return attributes


def _save_people(
    shoppers: list[tuple[Shopper, str, str]], rng: random.Random, now: dt.datetime
) -> int:
    """Users, contacts (with their real creation dates), consent history, suppressions."""
    users = [shopper.user for shopper, _kind, _source in shoppers if shopper.user is not None]
    for shopper, _kind, _source in shoppers:
        if shopper.user is not None:
            shopper.user.date_joined = _identified_at(shopper)
    get_user_model().objects.bulk_create(users, batch_size=500)
    base_url = getattr(settings, "WAGTAILADMIN_BASE_URL", "").rstrip("/")
    changes: list[ConsentChange] = []
    suppressions: list[Suppression] = []
    for shopper, kind, source in shoppers:
        contact = shopper.contact
        assert contact is not None
        identified = _identified_at(shopper)
        if shopper.orders:
            contact.customer_since = timezone.localdate(shopper.orders[0].created_at)
        consent_source, path = CONSENT_SOURCES[source]
        where = f"{base_url}{path}" if path else ""
        status = _consent_status(rng, source, kind)
        if status != "none":
            first = "pending" if status == "pending" else "subscribed"
            changes.append(_change(contact, first, "none", consent_source, where, identified))
            contact.consent_status, contact.consent_source = first, consent_source
            contact.consent_where, contact.consent_at = where, identified
        how = ""
        if status == "unsubscribed":
            when = identified + (now - identified) * rng.uniform(0.2, 0.95)
            how = rng.choice(_UNSUBSCRIBE_SOURCES)
            changes.append(_change(contact, "unsubscribed", "subscribed", how, "", when))
            contact.consent_status, contact.consent_source = "unsubscribed", how
            contact.consent_where, contact.consent_at = "", when
        # One save each (not bulk_create): Contact.save() derives the email hash.
        contact.save()
        if status == "unsubscribed":
            # As set_consent() does live: an unsubscribe also suppresses the address.
            suppressions.append(
                Suppression(email_hash=contact.email_hash, reason="unsubscribe", detail=how)
            )
        elif status == "subscribed" and rng.random() < 0.01:
            suppressions.append(
                Suppression(
                    email_hash=contact.email_hash,
                    reason="hard_bounce",
                    detail="550 5.1.1 mailbox unavailable",
                )
            )
        contact.created_at = identified
        contact.updated_at = max(identified, shopper.last_seen or identified)
    Contact.objects.bulk_update(
        [shopper.contact for shopper, _kind, _source in shoppers if shopper.contact],
        ["created_at", "updated_at"],
        batch_size=500,
    )
    ConsentChange.objects.bulk_create(changes, batch_size=1000)
    Suppression.objects.bulk_create(suppressions, batch_size=1000)
    return len(users)


def _identified_at(shopper: Shopper) -> dt.datetime:
    return shopper.identified_at or shopper.first_seen or shopper.last_seen or timezone.now()


def _consent_status(rng: random.Random, source: str, kind: str) -> str:
    weights = {
        "newsletter": {"subscribed": 80, "pending": 12, "unsubscribed": 8, "none": 0},
        "import": {"subscribed": 60, "pending": 0, "unsubscribed": 5, "none": 35},
        "checkout": {"subscribed": 62, "pending": 0, "unsubscribed": 10, "none": 28},
        "sign-up": {"subscribed": 60, "pending": 0, "unsubscribed": 10, "none": 30},
    }[source]
    if kind == "lapsed":
        weights = {**weights, "unsubscribed": weights["unsubscribed"] * 2}
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _change(
    contact: Contact, status: str, previous: str, source: str, where: str, when: dt.datetime
) -> ConsentChange:
    return ConsentChange(
        contact=contact,
        status=status,
        previous_status=previous,
        source=source,
        where=where,
        occurred_at=when,
    )
