"""The flow engine without a database: steps, waits across DST, branches, goals, edits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest

from wagtail_oneonone.flows.engine import (
    ACTIVE,
    COMPLETED,
    EXITED,
    GOAL,
    MAX_STEPS_PER_RUN,
    Branch,
    Effect,
    End,
    FlowSpec,
    Notify,
    Position,
    SendEmail,
    UpdateContact,
    Wait,
    advance,
    wait_end,
)

UTC = dt.UTC
START = dt.datetime(2026, 3, 7, 9, 0, tzinfo=UTC)


@dataclass
class Answers:
    """What the database would say about one enrollment."""

    goal: bool = False
    eligible: bool = True
    branches: dict[str, bool] = field(default_factory=dict)
    zone_name: str = "Europe/London"
    asked: list[str] = field(default_factory=list)

    def goal_reached(self) -> bool:
        return self.goal

    def still_eligible(self) -> bool:
        return self.eligible

    def branch(self, step: Branch) -> bool:
        self.asked.append(step.id)
        return self.branches[step.id]

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


CART = FlowSpec(
    (
        Wait("w2h", duration=hours(2)),
        SendEmail("reminder"),
        Wait("w24h", duration=hours(22)),
        SendEmail("incentive"),
        Wait("w3d", duration=hours(48)),
        SendEmail("last-chance"),
    )
)


def test_a_new_enrollment_runs_to_its_first_wait() -> None:
    outcome = advance(CART, Position(None), START, Answers())
    assert outcome.position == Position("w2h", ACTIVE, START + hours(2), waiting=True)
    assert outcome.effects == ()
    assert outcome.visited == ("w2h",)


def test_a_wait_not_over_yet_changes_nothing() -> None:
    waiting = Position("w2h", ACTIVE, START + hours(2), waiting=True)
    assert advance(CART, waiting, START + hours(1), Answers()).position == waiting


def test_each_wait_that_ends_sends_the_next_email_and_waits_again() -> None:
    answers = Answers()
    position = advance(CART, Position(None), START, answers).position
    sent: list[str] = []
    moment = START
    while position.status == ACTIVE:
        moment = position.next_run_at or moment
        outcome = advance(CART, position, moment, answers)
        sent += [effect.step_id for effect in outcome.effects]
        position = outcome.position
    assert sent == ["reminder", "incentive", "last-chance"]
    assert position.status == COMPLETED
    assert moment == START + hours(72)


def test_the_goal_ends_the_flow_before_the_next_email() -> None:
    position = advance(CART, Position(None), START, Answers()).position
    outcome = advance(CART, position, START + hours(2), Answers(goal=True))
    assert outcome.effects == ()
    assert outcome.position.status == GOAL


def test_an_ineligible_contact_leaves_saying_why() -> None:
    outcome = advance(CART, Position(None), START, Answers(eligible=False))
    assert outcome.position.status == EXITED
    assert outcome.position.exit_reason == "no longer eligible for the flow"


def test_branches_choose_a_side_and_go_on_after_the_branch() -> None:
    spec = FlowSpec(
        (
            SendEmail("thanks"),
            Branch(
                "first-order",
                yes=(SendEmail("welcome-tips"), UpdateContact("tag-new")),
                no=(Branch("vip", yes=(Notify("call-them"),), no=()),),
            ),
            Wait("w3d", duration=hours(72)),
            SendEmail("review"),
        )
    )
    yes = advance(spec, Position(None), START, Answers(branches={"first-order": True}))
    assert yes.effects == (
        Effect("send", "thanks"),
        Effect("send", "welcome-tips"),
        Effect("update", "tag-new"),
    )
    assert yes.position.step_id == "w3d"
    no_vip = Answers(branches={"first-order": False, "vip": True})
    outcome = advance(spec, Position(None), START, no_vip)
    assert outcome.effects == (Effect("send", "thanks"), Effect("notify", "call-them"))
    assert no_vip.asked == ["first-order", "vip"]
    assert outcome.visited == ("thanks", "first-order", "vip", "call-them", "w3d")
    neither = advance(
        spec, Position(None), START, Answers(branches={"first-order": False, "vip": False})
    )
    assert neither.effects == (Effect("send", "thanks"),)
    assert neither.position.step_id == "w3d"


def test_a_wait_inside_a_branch_resumes_inside_it() -> None:
    spec = FlowSpec(
        (
            Branch("b", yes=(Wait("inner", duration=hours(1)), SendEmail("yes-mail")), no=()),
            SendEmail("after"),
        )
    )
    first = advance(spec, Position(None), START, Answers(branches={"b": True}))
    assert first.position.step_id == "inner"
    second = advance(spec, first.position, START + hours(1), Answers())
    assert second.effects == (Effect("send", "yes-mail"), Effect("send", "after"))
    assert second.position.status == COMPLETED


def test_an_end_step_completes_the_flow() -> None:
    spec = FlowSpec((SendEmail("one"), End("stop"), SendEmail("never")))
    outcome = advance(spec, Position(None), START, Answers())
    assert outcome.effects == (Effect("send", "one"),)
    assert outcome.position == Position("stop", COMPLETED)


def test_an_enrollment_whose_step_was_deleted_leaves_instead_of_guessing() -> None:
    edited = FlowSpec((SendEmail("reminder"),))
    waiting = Position("w2h", ACTIVE, START, waiting=True)
    outcome = advance(edited, waiting, START, Answers())
    assert outcome.position.status == EXITED
    assert "removed" in outcome.position.exit_reason


def test_steps_moved_by_an_edit_keep_their_enrollments_in_place() -> None:
    # The editor inserted a step before the wait: the waiting enrollment goes on from it.
    edited = FlowSpec((SendEmail("new-first"), *CART.steps))
    waiting = Position("w2h", ACTIVE, START + hours(2), waiting=True)
    outcome = advance(edited, waiting, START + hours(2), Answers())
    assert outcome.effects == (Effect("send", "reminder"),)


def test_a_flow_without_waits_that_loops_is_stopped() -> None:
    many = FlowSpec(tuple(UpdateContact(f"u{index}") for index in range(MAX_STEPS_PER_RUN + 5)))
    outcome = advance(many, Position(None), START, Answers())
    assert outcome.position.status == EXITED
    assert len(outcome.effects) == MAX_STEPS_PER_RUN


def test_finished_enrollments_stay_finished() -> None:
    for status in (COMPLETED, GOAL, EXITED):
        done = Position("reminder", status)
        assert advance(CART, done, START, Answers()).position == done


# Waiting until a local time ------------------------------------------------------------------


NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("now", "zone", "step", "expected"),
    [
        # Before 10:00 local: today at 10:00; after: tomorrow.
        (
            dt.datetime(2026, 6, 1, 8, tzinfo=UTC),
            LONDON,
            Wait("w", until=dt.time(10)),
            dt.datetime(2026, 6, 1, 9, tzinfo=UTC),
        ),
        (
            dt.datetime(2026, 6, 1, 10, tzinfo=UTC),
            LONDON,
            Wait("w", until=dt.time(10)),
            dt.datetime(2026, 6, 2, 9, tzinfo=UTC),
        ),
        # Over the US spring change (8 March 2026): 10:00 EST on the 7th, 10:00 EDT on the 8th.
        (
            dt.datetime(2026, 3, 7, 16, tzinfo=UTC),
            NEW_YORK,
            Wait("w", until=dt.time(10)),
            dt.datetime(2026, 3, 8, 14, tzinfo=UTC),
        ),
        # A skipped wall time (02:30 on the change day) is 03:30 EDT.
        (
            dt.datetime(2026, 3, 8, 5, tzinfo=UTC),
            NEW_YORK,
            Wait("w", until=dt.time(2, 30)),
            dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        ),
        # Over the European autumn change (25 October 2026): 10:00 BST, then 10:00 GMT.
        (
            dt.datetime(2026, 10, 24, 12, tzinfo=UTC),
            LONDON,
            Wait("w", until=dt.time(10)),
            dt.datetime(2026, 10, 25, 10, tzinfo=UTC),
        ),
        # A duration first, then the next 10:00 after it.
        (
            dt.datetime(2026, 6, 1, 8, tzinfo=UTC),
            LONDON,
            Wait("w", duration=hours(3), until=dt.time(10)),
            dt.datetime(2026, 6, 2, 9, tzinfo=UTC),
        ),
        # Only on Mondays (1 June 2026 is a Monday; from Tuesday the next is the 8th).
        (
            dt.datetime(2026, 6, 2, 8, tzinfo=UTC),
            LONDON,
            Wait("w", until=dt.time(10), weekdays=frozenset({0})),
            dt.datetime(2026, 6, 8, 9, tzinfo=UTC),
        ),
    ],
)
def test_waiting_until_a_local_time_is_the_next_one_on_the_contacts_clock(
    now: dt.datetime, zone: ZoneInfo, step: Wait, expected: dt.datetime
) -> None:
    assert wait_end(step, now, zone) == expected


def test_a_duration_is_exact_time_across_a_dst_change() -> None:
    before_change = dt.datetime(2026, 3, 8, 5, tzinfo=UTC)  # 00:00 EST
    assert wait_end(
        Wait("w", duration=hours(24)), before_change, NEW_YORK
    ) == before_change + hours(24)


def test_waits_use_the_contacts_zone() -> None:
    spec = FlowSpec((Wait("w", until=dt.time(10)), SendEmail("hello")))
    now = dt.datetime(2026, 6, 1, 8, tzinfo=UTC)
    tokyo = advance(spec, Position(None), now, Answers(zone_name="Asia/Tokyo")).position
    assert tokyo.next_run_at == dt.datetime(2026, 6, 2, 1, tzinfo=UTC)


def test_waits_already_over_are_passed_in_one_run_each_counting_from_the_last() -> None:
    # A worker that was down for four days catches up: every email goes, in order, and
    # each wait counts from when the one before it ended, not from now.
    outcome = advance(CART, Position(None, next_run_at=START), START + hours(100), Answers())
    assert [effect.step_id for effect in outcome.effects] == [
        "reminder",
        "incentive",
        "last-chance",
    ]
    assert outcome.position.status == COMPLETED
    partly = advance(CART, Position(None, next_run_at=START), START + hours(30), Answers())
    assert [effect.step_id for effect in partly.effects] == ["reminder", "incentive"]
    assert partly.position.next_run_at == START + hours(72)
