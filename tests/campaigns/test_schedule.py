"""When each copy goes: local times across zones and DST changes, spreads, queue start."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.campaigns.conftest import EVERYONE, make_campaign, segment, subscribed
from wagtail_oneonone.campaigns.schedule import QUEUE_AHEAD, Schedule, local_instant, zone_named
from wagtail_oneonone.campaigns.services import queue_campaign, schedule_campaign
from wagtail_oneonone.models import EmailLayout, OutboxMessage, SendMode
from wagtail_oneonone.sending.dispatch import dispatch_due

UTC = dt.UTC
TEN = dt.time(10, 0)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(day: dt.date, time: dt.time = TEN, default: str = "Europe/London") -> Schedule:
    return Schedule(
        mode=SendMode.LOCAL,
        send_at=utc(2026, 1, 1),
        local_date=day,
        local_time=time,
        default_zone=default,
    )


# 8 March 2026: clocks go forward in the US (02:00 → 03:00), not yet in Europe (29 March).
US_SPRING = dt.date(2026, 3, 8)
# 25 October 2026: clocks go back in Europe (02:00 → 01:00); the US follows on 1 November.
EU_AUTUMN = dt.date(2026, 10, 25)


@pytest.mark.parametrize(
    ("day", "zone", "expected"),
    [
        # On the US change day, New York is already on EDT (UTC-4) at 10:00.
        (US_SPRING, "America/New_York", utc(2026, 3, 8, 14)),
        (US_SPRING - dt.timedelta(days=1), "America/New_York", utc(2026, 3, 7, 15)),
        (US_SPRING, "America/Los_Angeles", utc(2026, 3, 8, 17)),
        (US_SPRING, "Europe/London", utc(2026, 3, 8, 10)),
        (US_SPRING, "Asia/Tokyo", utc(2026, 3, 8, 1)),
        (US_SPRING, "Asia/Kolkata", utc(2026, 3, 8, 4, 30)),
        (US_SPRING, "Australia/Sydney", utc(2026, 3, 7, 23)),  # AEDT, UTC+11
        # On the European change day, London is back on GMT at 10:00, Berlin on CET.
        (EU_AUTUMN, "Europe/London", utc(2026, 10, 25, 10)),
        (EU_AUTUMN - dt.timedelta(days=1), "Europe/London", utc(2026, 10, 24, 9)),
        (EU_AUTUMN, "Europe/Berlin", utc(2026, 10, 25, 9)),
        (EU_AUTUMN, "America/New_York", utc(2026, 10, 25, 14)),  # still EDT for a week
        (EU_AUTUMN, "Pacific/Kiritimati", utc(2026, 10, 24, 20)),  # UTC+14: the first
        (EU_AUTUMN, "Pacific/Pago_Pago", utc(2026, 10, 25, 21)),  # UTC-11
    ],
)
def test_ten_oclock_local_is_each_zones_own_ten_oclock(
    day: dt.date, zone: str, expected: dt.datetime
) -> None:
    assert local(day).send_time(zone) == expected
    assert local(day).send_time(zone).astimezone(zone_named(zone, "UTC")).time() == TEN


def test_contacts_without_a_zone_or_with_an_unknown_one_get_the_sites() -> None:
    schedule = local(US_SPRING, default="America/Chicago")
    assert schedule.send_time(None) == utc(2026, 3, 8, 15)  # CDT on the change day
    assert schedule.send_time("") == utc(2026, 3, 8, 15)
    assert schedule.send_time("Mars/Olympus_Mons") == utc(2026, 3, 8, 15)


def test_a_time_skipped_by_the_clocks_going_forward_goes_an_hour_later() -> None:
    # 02:30 does not exist in New York on 8 March 2026: the wall clock jumps to 03:30.
    sent = local(US_SPRING, dt.time(2, 30)).send_time("America/New_York")
    assert sent == utc(2026, 3, 8, 7, 30)
    assert sent.astimezone(zone_named("America/New_York", "UTC")).time() == dt.time(3, 30)


def test_a_time_that_happens_twice_when_clocks_go_back_is_the_first() -> None:
    sent = local(EU_AUTUMN, dt.time(1, 30)).send_time("Europe/London")
    assert sent == utc(2026, 10, 25, 0, 30)  # 01:30 BST, not 01:30 GMT an hour later
    assert local_instant(EU_AUTUMN, dt.time(3, 0), zone_named("Europe/London", "UTC")) == utc(
        2026, 10, 25, 3
    )


def test_a_local_time_send_starts_queueing_before_the_first_zone_reaches_it() -> None:
    schedule = local(EU_AUTUMN)
    assert schedule.first_send == utc(2026, 10, 24, 20)  # 10:00 in UTC+14
    assert schedule.last_send == utc(2026, 10, 25, 22)  # 10:00 in UTC-12
    assert schedule.queue_from() == utc(2026, 10, 24, 20) - QUEUE_AHEAD


def test_a_spread_send_spaces_copies_evenly_over_its_hours() -> None:
    start = utc(2026, 11, 30, 9)
    schedule = Schedule(mode=SendMode.SPREAD, send_at=start, spread_hours=4)
    times = [schedule.send_time(None, index=index, total=8) for index in range(8)]
    assert times == [start + dt.timedelta(minutes=30 * index) for index in range(8)]
    assert schedule.last_send == start + dt.timedelta(hours=4)
    assert schedule.queue_from() == start - QUEUE_AHEAD


def test_now_and_at_sends_send_everyone_at_one_moment() -> None:
    moment = utc(2026, 11, 30, 9, 15)
    assert Schedule(mode=SendMode.NOW, send_at=moment).send_time("Asia/Tokyo") == moment
    at = Schedule(mode=SendMode.AT, send_at=moment)
    assert at.send_time("Asia/Tokyo", index=5, total=9) == moment
    assert Schedule(mode=SendMode.NOW, send_at=moment).queue_from() == moment


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": SendMode.LOCAL}, "local_date and local_time"),
        ({"mode": SendMode.SPREAD}, "spread_hours"),
        ({"mode": SendMode.SPREAD, "spread_hours": 73}, "spread_hours"),
        ({"mode": "whenever"}, "unknown send mode"),
    ],
)
def test_incomplete_schedules_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule(send_at=utc(2026, 1, 1), **kwargs)
    with pytest.raises(ValueError, match="aware"):
        Schedule(mode=SendMode.NOW, send_at=dt.datetime(2026, 1, 1))


@pytest.mark.django_db
def test_a_local_time_campaign_reaches_each_zone_at_ten_on_a_dst_change_day(
    email_layout: EmailLayout, sending_settings: Any, anymail_backend: Any
) -> None:
    sending_settings.WAGTAIL_ONEONONE = {
        **sending_settings.WAGTAIL_ONEONONE,
        "DEFAULT_TIME_ZONE": "Europe/Paris",
    }
    zones = {
        "tokyo@example.com": ("Asia/Tokyo", utc(2026, 3, 8, 1)),
        "london@example.com": ("Europe/London", utc(2026, 3, 8, 10)),
        "nowhere@example.com": ("", utc(2026, 3, 8, 9)),  # the site's zone: Paris, CET
        "newyork@example.com": ("America/New_York", utc(2026, 3, 8, 14)),  # EDT since 02:00
        "la@example.com": ("America/Los_Angeles", utc(2026, 3, 8, 17)),
    }
    for email, (zone, _) in zones.items():
        subscribed(email, time_zone=zone)
    campaign = make_campaign(audience=[segment("All", EVERYONE)])
    send = schedule_campaign(campaign, local(US_SPRING))
    assert send.queue_from == utc(2026, 3, 7, 20) - QUEUE_AHEAD
    queue_campaign(campaign.pk, now=send.queue_from)
    scheduled = dict(OutboxMessage.objects.values_list("contact__email", "scheduled_at"))
    assert scheduled == {email: expected for email, (_, expected) in zones.items()}

    # The outbox sends each copy when its contact's clock says ten, not before.
    def delivered_by(moment: dt.datetime) -> list[str]:
        dispatch_due(clock=lambda: moment)
        return sorted(message.to[0] for message in anymail_backend.outbox)

    assert delivered_by(utc(2026, 3, 8, 0, 59)) == []
    assert delivered_by(utc(2026, 3, 8, 1)) == ["tokyo@example.com"]
    assert delivered_by(utc(2026, 3, 8, 9, 30)) == ["nowhere@example.com", "tokyo@example.com"]
    assert len(delivered_by(utc(2026, 3, 8, 13, 59))) == 3
    assert len(delivered_by(utc(2026, 3, 8, 14))) == 4
    assert len(delivered_by(utc(2026, 3, 8, 17))) == 5


@pytest.mark.django_db
def test_a_spread_campaign_queues_copies_across_its_hours(
    email_layout: EmailLayout, sending_settings: Any
) -> None:
    for index in range(6):
        subscribed(f"c{index}@example.com")
    start = timezone.now().replace(microsecond=0) + dt.timedelta(hours=1)
    campaign = make_campaign(audience=[segment("All", EVERYONE)])
    schedule_campaign(campaign, Schedule(mode=SendMode.SPREAD, send_at=start, spread_hours=3))
    queue_campaign(campaign.pk, now=start - QUEUE_AHEAD)
    times = sorted(OutboxMessage.objects.values_list("scheduled_at", flat=True))
    assert times == [start + dt.timedelta(minutes=30 * index) for index in range(6)]
