"""The built-in flows install as valid, editable drafts whose steps all have ids."""

from __future__ import annotations

from typing import Any

import pytest

from wagtail_oneonone.flows.blocks import FlowStepsBlock
from wagtail_oneonone.flows.builtin import (
    BUILTIN_FLOWS,
    get_builtin,
    install_builtin,
    installed_keys,
)
from wagtail_oneonone.flows.engine import Branch, SendEmail, Step
from wagtail_oneonone.flows.spec import spec_of
from wagtail_oneonone.models import Flow, FlowStatus

pytestmark = pytest.mark.django_db


def ids(steps: tuple[Step, ...]) -> list[str]:
    found = []
    for step in steps:
        found.append(step.id)
        if isinstance(step, Branch):
            found += ids(step.yes) + ids(step.no)
    return found


def test_every_builtin_installs_as_a_valid_draft() -> None:
    assert {builtin.key for builtin in BUILTIN_FLOWS} == {
        "browse_abandonment",
        "cart_abandonment",
        "post_purchase",
        "birthday",
        "signup_anniversary",
        "win_back",
        "vip_reward",
        "welcome",
    }
    for builtin in BUILTIN_FLOWS:
        flow = install_builtin(builtin.key)
        flow = Flow.objects.get(pk=flow.pk)  # as stored: every step has its id
        assert flow.status == FlowStatus.DRAFT and flow.builtin == builtin.key
        spec = spec_of(flow.steps)
        step_ids = ids(spec.steps)
        assert all(step_id and step_id != "None" for step_id in step_ids), builtin.key
        assert len(set(step_ids)) == len(step_ids)
        block = FlowStepsBlock()
        block.clean(block.to_python(block.get_prep_value(flow.steps)))  # validates
        assert any(isinstance(step, SendEmail) for step in _all(spec.steps)), builtin.key
    assert installed_keys() == {builtin.key for builtin in BUILTIN_FLOWS}


def _all(steps: tuple[Step, ...]) -> list[Any]:
    found: list[Any] = []
    for step in steps:
        found.append(step)
        if isinstance(step, Branch):
            found += _all(step.yes) + _all(step.no)
    return found


def test_installing_twice_gives_a_second_flow_to_edit() -> None:
    first = install_builtin("welcome")
    second = install_builtin("welcome")
    assert (first.name, second.name) == ("Welcome series", "Welcome series (2)")


def test_an_unknown_builtin_is_refused() -> None:
    with pytest.raises(ValueError, match="no built-in flow 'nope'"):
        get_builtin("nope")


def notes_to(flow: Flow) -> list[str]:
    found = []
    for step in flow.steps:
        if step.block_type == "notify":
            found.append(step.value["to"])
        elif step.block_type == "branch":
            for side in ("yes", "no"):
                found += [s.value["to"] for s in step.value[side] if s.block_type == "notify"]
    return found


def test_notes_to_a_colleague_go_to_who_installs_or_else_the_shop(settings: Any) -> None:
    settings.DEFAULT_FROM_EMAIL = "Oak & Thread <shop@shop.example>"
    settings.WAGTAIL_ONEONONE = {}
    assert notes_to(install_builtin("vip_reward", staff_email="jo@shop.example")) == [
        "jo@shop.example"
    ]
    assert notes_to(install_builtin("win_back")) == ["shop@shop.example"]  # in a branch
    settings.WAGTAIL_ONEONONE = {"REPLY_TO": "Jo Maker <jo@shop.example>"}
    assert notes_to(install_builtin("vip_reward")) == ["jo@shop.example"]
