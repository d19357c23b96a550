from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from wagtail_oneonone.exceptions import EventValidationError
from wagtail_oneonone.models import Contact, Event
from wagtail_oneonone.signals import identify_contact, track_event

pytestmark = pytest.mark.django_db


def test_events_can_be_sent_as_signals() -> None:
    identify_contact.send(sender=None, email="quin@example.com", first_name="Quin")
    track_event.send(
        sender=None,
        event_type="signed_up",
        email="quin@example.com",
        properties={"source": "newsletter box"},
    )
    event = Event.objects.get()
    assert event.type == "signed_up"
    assert event.contact == Contact.objects.get(first_name="Quin")


def test_a_refused_signal_event_raises_unless_fail_silently() -> None:
    with pytest.raises(EventValidationError):
        track_event.send(sender=None, event_type="signed_up", email="bad")
    track_event.send(sender=None, event_type="signed_up", email="bad", fail_silently=True)
    assert not Event.objects.exists()


def _ids(**settings: object) -> list[str]:
    with override_settings(**settings):
        return [m.id for m in run_checks() if m.id and m.id.startswith("wagtail_oneonone")]


def test_unknown_settings_key_is_an_error_with_a_suggestion() -> None:
    with override_settings(WAGTAIL_ONEONONE={"TRACK_PAGEVIEWS": False}):
        messages = [m for m in run_checks() if m.id == "wagtail_oneonone.E002"]
    assert len(messages) == 1
    assert "TRACK_PAGE_VIEWS" in (messages[0].hint or "")


def test_settings_checks() -> None:
    assert _ids() == []
    assert "wagtail_oneonone.E001" in _ids(WAGTAIL_ONEONONE=["x"])
    assert "wagtail_oneonone.E003" in _ids(WAGTAIL_ONEONONE={"BOT_USER_AGENT_PATTERN": "("})
    assert "wagtail_oneonone.E004" in _ids(WAGTAIL_ONEONONE={"DEFAULT_CURRENCY": "pounds"})
    assert "wagtail_oneonone.E005" in _ids(WAGTAIL_ONEONONE={"DEFAULT_TIME_ZONE": "Nowhere"})


@pytest.mark.parametrize("value", [0, -5, "25", 2.5, True, None])
def test_send_sizes_must_be_whole_numbers_of_at_least_one(value: object) -> None:
    for key in ("SEND_BATCH_SIZE", "HANDOFF_GROUP_SIZE"):
        assert _ids(WAGTAIL_ONEONONE={key: value}) == ["wagtail_oneonone.E014"]
    assert _ids(WAGTAIL_ONEONONE={"SEND_BATCH_SIZE": 1, "HANDOFF_GROUP_SIZE": 1}) == []


def test_middleware_checks() -> None:
    from django.conf import settings

    without = [m for m in settings.MIDDLEWARE if "oneonone" not in m]
    assert "wagtail_oneonone.W001" in _ids(MIDDLEWARE=without)
    misplaced = ["wagtail_oneonone.middleware.VisitorMiddleware", *without]
    assert "wagtail_oneonone.E006" in _ids(MIDDLEWARE=misplaced)


GOOD_QUEUE = {"orm": "default", "timeout": 300, "retry": 360, "max_attempts": 3, "catch_up": False}


@pytest.mark.parametrize(
    ("change", "check_id"),
    [
        ({"retry": 300}, "wagtail_oneonone.E011"),
        ({"timeout": None}, "wagtail_oneonone.E011"),
        ({"max_attempts": 0}, "wagtail_oneonone.E012"),
        ({"catch_up": True}, "wagtail_oneonone.E013"),
    ],
)
def test_queue_settings_that_rerun_tasks_are_refused(change: dict, check_id: str) -> None:
    assert _ids(Q_CLUSTER=GOOD_QUEUE) == []
    assert check_id in _ids(Q_CLUSTER={**GOOD_QUEUE, **change})


def test_queue_defaults_are_refused() -> None:
    ids = _ids(Q_CLUSTER={"orm": "default"})
    assert {"wagtail_oneonone.E011", "wagtail_oneonone.E012", "wagtail_oneonone.E013"} <= set(ids)


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_sqlite_without_immediate_transactions_is_warned_about() -> None:
    from django.conf import settings

    database = {
        **settings.DATABASES["default"],
        "ENGINE": "django.db.backends.sqlite3",
        "OPTIONS": {},
    }
    assert "wagtail_oneonone.W002" in _ids(DATABASES={"default": database})


@pytest.mark.parametrize(
    ("value", "check_id"),
    [
        ([], "wagtail_oneonone.E015"),
        ("email_opened", "wagtail_oneonone.E015"),
        (["email_opened", 3], "wagtail_oneonone.E015"),
        (["email_opend"], "wagtail_oneonone.W003"),
    ],
)
def test_engagement_event_types_must_name_event_types(value: object, check_id: str) -> None:
    assert _ids(WAGTAIL_ONEONONE={"ENGAGEMENT_EVENT_TYPES": value}) == [check_id]
    assert _ids(WAGTAIL_ONEONONE={"ENGAGEMENT_EVENT_TYPES": ["order_placed"]}) == []


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"new_days": 0},
        {"active_days": "90"},
        {"new_days": 100},  # new customers would outlast active ones
        {"lapsed_days": 90},
        {"churn_days": 30},
    ],
)
def test_lifecycle_thresholds_are_checked(value: object) -> None:
    assert _ids(WAGTAIL_ONEONONE={"LIFECYCLE": value}) == ["wagtail_oneonone.E016"]
    assert _ids(WAGTAIL_ONEONONE={"LIFECYCLE": {"lapsed_days": 365}}) == []


FROZEN = "2030-01-02T03:04:05+00:00"


def frozen_clock() -> Any:
    import datetime as dt

    return dt.datetime.fromisoformat(FROZEN)


@pytest.mark.parametrize("value", ["no.such.module.now", "wagtail_oneonone.conf.DEFAULTS"])
def test_a_clock_that_is_not_a_function_is_refused(value: str) -> None:
    assert _ids(WAGTAIL_ONEONONE={"CLOCK": value}) == ["wagtail_oneonone.E017"]
    clock = f"{__name__}.frozen_clock"
    assert _ids(WAGTAIL_ONEONONE={"CLOCK": clock}) == []


@pytest.mark.django_db
def test_the_worker_goes_by_the_configured_clock(settings: Any) -> None:
    from tests.flows.conftest import make_flow, send, subscribed, text, wait
    from wagtail_oneonone import tasks
    from wagtail_oneonone.api import track
    from wagtail_oneonone.models import OutboxMessage

    make_flow(
        "Welcome",
        [wait("w", 1), send("s", "Hi", text("<p>Hi</p>"))],
        trigger_event_type="signed_up",
    )
    track("signed_up", contact=subscribed("new@example.com"))
    settings.WAGTAIL_ONEONONE = {"CLOCK": f"{__name__}.frozen_clock", "QUIET_HOURS": None}
    # By the frozen clock, years have passed: the hour's wait is over and the email queued.
    result = tasks.run_flows()
    assert {key: result[key] for key in ("events", "enrolled", "reached_goal", "sent")} == {
        "events": 1,
        "enrolled": 1,
        "reached_goal": 0,
        "sent": 1,
    }
    [message] = OutboxMessage.objects.all()
    assert message.scheduled_at.isoformat() == FROZEN
    tasks.start_campaigns()
