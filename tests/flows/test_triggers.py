"""Triggers that are not events: entering a segment, engagement changes, dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.campaigns.conftest import attribute_is, segment
from tests.flows.conftest import make_flow, send, subscribed, text
from wagtail_oneonone.api import track
from wagtail_oneonone.flows.triggers import match_date_triggers, match_membership_triggers
from wagtail_oneonone.models import Contact, Enrollment, Reentry, TriggerType

pytestmark = pytest.mark.django_db

UTC = dt.UTC
HELLO = [send("hello", "Hello", text("<p>Hello</p>"))]


def become(contact: Contact, **attributes: Any) -> None:
    contact.attributes = {**contact.attributes, **attributes}
    contact.save()


def test_entering_a_segment_enrolls_but_being_in_it_already_does_not() -> None:
    vips = segment("VIPs", attribute_is("tier", "vip"))
    flow = make_flow(
        "VIP reward",
        HELLO,
        trigger_type=TriggerType.SEGMENT_ENTERED,
        trigger_segment=vips,
        reentry=Reentry.EVERY_TIME,
    )
    already = subscribed("already@example.com", attributes={"tier": "vip"})
    later = subscribed("later@example.com")
    now = timezone.now()
    assert match_membership_triggers(now=now) == 0  # the first look only notes who is in
    become(later, tier="vip")
    assert match_membership_triggers(now=now + dt.timedelta(minutes=1)) == 1
    assert match_membership_triggers(now=now + dt.timedelta(minutes=2)) == 0
    [enrollment] = Enrollment.objects.filter(flow=flow)
    assert enrollment.contact == later and enrollment.next_run_at is not None
    # Leaving and coming back is entering again (every time); "once" would stop it.
    become(later, tier="gold")
    match_membership_triggers(now=now + dt.timedelta(minutes=3))
    become(later, tier="vip")
    assert match_membership_triggers(now=now + dt.timedelta(minutes=4)) == 1
    assert not Enrollment.objects.filter(contact=already).exists()


def test_becoming_dormant_enrolls_into_win_back() -> None:
    flow = make_flow(
        "Win-back",
        HELLO,
        trigger_type=TriggerType.ENGAGEMENT,
        trigger_engagement="became_dormant",
        reentry=Reentry.ONCE,
    )
    now = timezone.now()
    fading = subscribed("fading@example.com")
    Contact.objects.filter(pk=fading.pk).update(created_at=now - dt.timedelta(days=400))
    track(
        "page_viewed",
        contact=fading,
        occurred_at=now - dt.timedelta(days=80),
        properties={"url": "/"},
    )
    assert match_membership_triggers(now=now) == 0  # active: seen 80 days ago
    assert match_membership_triggers(now=now + dt.timedelta(days=11)) == 1  # 91 days
    assert Enrollment.objects.get(flow=flow).contact == fading


@pytest.mark.parametrize(
    ("zone", "local_ten"),
    [
        ("Asia/Tokyo", dt.datetime(2026, 3, 8, 1, tzinfo=UTC)),
        ("Europe/London", dt.datetime(2026, 3, 8, 10, tzinfo=UTC)),
        ("America/New_York", dt.datetime(2026, 3, 8, 14, tzinfo=UTC)),  # EDT from 02:00
    ],
)
def test_a_birthday_is_due_at_ten_on_the_contacts_own_clock(
    zone: str, local_ten: dt.datetime
) -> None:
    make_flow(
        "Birthday",
        HELLO,
        trigger_type=TriggerType.DATE,
        trigger_date_field="birthday",
        trigger_time=dt.time(10),
    )
    subscribed("bday@example.com", birthday=dt.date(1990, 3, 8), time_zone=zone)
    now = dt.datetime(2026, 3, 7, 20, tzinfo=UTC)
    assert match_date_triggers(now=now) == 1
    assert match_date_triggers(now=now + dt.timedelta(hours=3)) == 0  # once a year
    enrollment = Enrollment.objects.get()
    assert enrollment.next_run_at == local_ten
    assert enrollment.key.endswith(":date-2026-03-08")


def test_a_leap_day_birthday_is_the_28th_and_days_before_count() -> None:
    make_flow(
        "Birthday week",
        HELLO,
        trigger_type=TriggerType.DATE,
        trigger_date_field="birthday",
        trigger_time=dt.time(9),
        trigger_days_before=3,
    )
    subscribed("leap@example.com", birthday=dt.date(2000, 2, 29), time_zone="Europe/London")
    subscribed("other@example.com", birthday=dt.date(2000, 3, 15), time_zone="Europe/London")
    assert match_date_triggers(now=dt.datetime(2027, 2, 25, 6, tzinfo=UTC)) == 1
    enrollment = Enrollment.objects.get()
    assert enrollment.contact.email == "leap@example.com"
    assert enrollment.next_run_at == dt.datetime(2027, 2, 25, 9, tzinfo=UTC)  # 28th - 3 days


def test_a_date_attribute_can_trigger_too() -> None:
    make_flow(
        "Pet's birthday",
        HELLO,
        trigger_type=TriggerType.DATE,
        trigger_date_field="attribute",
        trigger_attribute="pet_birthday",
        trigger_time=dt.time(10),
    )
    subscribed("pets@example.com", attributes={"pet_birthday": "2019-06-01"}, time_zone="UTC")
    subscribed("nopet@example.com", attributes={"pet_birthday": "not a date"})
    assert match_date_triggers(now=dt.datetime(2026, 6, 1, 5, tzinfo=UTC)) == 1
