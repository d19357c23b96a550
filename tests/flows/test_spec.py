"""Flow steps as blocks: what the editor stores, and the engine's view of it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from wagtail_oneonone.flows.blocks import FlowStepsBlock, WaitBlock
from wagtail_oneonone.flows.engine import Branch, End, FlowSpec, SendEmail, UpdateContact, Wait
from wagtail_oneonone.flows.spec import find_block, spec_of


def step(kind: str, step_id: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "id": step_id, "value": value}


def wait(step_id: str, amount: int, unit: str = "hours", **extra: Any) -> dict[str, Any]:
    return step(kind="wait", step_id=step_id, value={"amount": amount, "unit": unit, **extra})


EMAIL = {
    "subject": "Hi {{ contact.first_name }}",
    "preheader": "",
    "body": [{"type": "rich_text", "value": "<p>Hello</p>"}],
}

STORED = [
    wait("w1", 2),
    step("send_email", "e1", EMAIL),
    step(
        "branch",
        "b1",
        {
            "label": "Bought?",
            "condition": [{"type": "event_since_entry", "value": {"event_type": "order_placed"}}],
            "yes": [step("end", "stop", None)],
            "no": [
                wait("w2", 0, until="10:00:00", weekdays=["0", "4"]),
                step("update_contact", "u1", {"action": "add_tag", "name": "nudged", "value": ""}),
            ],
        },
    ),
    wait("w3", 3, "days"),
]


def test_stored_steps_become_the_engines_spec_with_their_ids() -> None:
    value = FlowStepsBlock().to_python(STORED)
    assert spec_of(value) == FlowSpec(
        (
            Wait("w1", duration=dt.timedelta(hours=2)),
            SendEmail("e1"),
            Branch(
                "b1",
                yes=(End("stop"),),
                no=(
                    Wait("w2", until=dt.time(10), weekdays=frozenset({0, 4})),
                    UpdateContact("u1"),
                ),
            ),
            Wait("w3", duration=dt.timedelta(days=3)),
        )
    )
    assert find_block(value, "u1").value["name"] == "nudged"
    assert find_block(value, "e1").value["subject"] == "Hi {{ contact.first_name }}"
    assert find_block(value, "nope") is None


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ({"amount": 0, "unit": "hours"}, "amount", "Wait some time"),
        ({"amount": 400, "unit": "days"}, "amount", "at most a year"),
        ({"amount": 1, "unit": "days", "weekdays": ["0"]}, "until", "time of day"),
    ],
)
def test_waits_that_make_no_sense_are_refused(
    value: dict[str, Any], field: str, message: str
) -> None:
    block = WaitBlock()
    with pytest.raises(ValidationError) as caught:
        block.clean(block.to_python(value))
    errors = caught.value.block_errors  # type: ignore[attr-defined]
    assert message in str(errors[field])


def test_a_broken_subject_or_unknown_event_is_refused_where_it_is() -> None:
    block = FlowStepsBlock()
    broken = [
        step("send_email", "e1", {**EMAIL, "subject": "Hi {{ contact.first_name|uper }}"}),
        step(
            "branch",
            "b1",
            {
                "label": "x",
                "condition": [{"type": "event_since_entry", "value": {"event_type": "bougth"}}],
                "yes": [],
                "no": [],
            },
        ),
    ]
    with pytest.raises(ValidationError) as caught:
        block.clean(block.to_python(broken))
    errors = caught.value.block_errors  # type: ignore[attr-defined]
    assert "uper" in str(errors[0].block_errors["subject"])
    condition = errors[1].block_errors["condition"].block_errors[0]
    assert "bougth" in str(condition.block_errors["event_type"])
