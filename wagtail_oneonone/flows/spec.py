"""A flow's stored steps (a ``FlowStepsBlock`` value) as the engine's :class:`FlowSpec`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from .blocks import UNIT_SECONDS
from .engine import Branch, End, FlowSpec, Notify, SendEmail, Step, UpdateContact, Wait


def spec_of(steps: Iterable[Any]) -> FlowSpec:
    """The engine's view of a flow's steps: ids, kinds, waits and branch sides."""
    return FlowSpec(tuple(_step(child) for child in steps))


def _step(child: Any) -> Step:
    kind, value, step_id = child.block_type, child.value, str(child.id)
    if kind == "wait":
        seconds = (value.get("amount") or 0) * UNIT_SECONDS[value.get("unit") or "hours"]
        return Wait(
            step_id,
            duration=dt.timedelta(seconds=seconds) if seconds else None,
            until=value.get("until"),
            weekdays=frozenset(int(day) for day in value.get("weekdays") or []),
        )
    if kind == "send_email":
        return SendEmail(step_id)
    if kind == "branch":
        return Branch(
            step_id,
            yes=tuple(_step(inner) for inner in value.get("yes") or []),
            no=tuple(_step(inner) for inner in value.get("no") or []),
        )
    if kind == "update_contact":
        return UpdateContact(step_id)
    if kind == "notify":
        return Notify(step_id)
    if kind == "end":
        return End(step_id)
    raise ValueError(f"unknown flow step {kind!r}")


def find_block(steps: Iterable[Any], step_id: str) -> Any | None:
    """The stored block of one step (for its settings: subject, body, attribute...)."""
    for child in steps:
        if str(child.id) == step_id:
            return child
        if child.block_type == "branch":
            found = find_block(child.value.get("yes") or [], step_id) or find_block(
                child.value.get("no") or [], step_id
            )
            if found is not None:
                return found
    return None
