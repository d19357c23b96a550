"""Which flows use a segment: as trigger, entry filter, goal, in a branch's condition, or in
an email's dynamic block."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Q

from ..campaigns.references import body_references, condition_references
from ..models import Flow, Segment


def flows_using(segment: Segment) -> list[Flow]:
    """Every flow that refers to ``segment`` (flows are few: their steps are read here)."""
    by_field = Q(trigger_segment=segment) | Q(entry_segment=segment) | Q(goal_left_segment=segment)
    using = {flow.pk: flow for flow in Flow.objects.filter(by_field)}
    for flow in Flow.objects.exclude(pk__in=list(using)):
        if str(segment.pk) in {str(ref) for ref in _step_references(flow.steps)}:
            using[flow.pk] = flow
    return sorted(using.values(), key=lambda flow: flow.name)


def _step_references(steps: Iterable[Any]) -> Iterator[Any]:
    """Segment ids (as stored) that steps refer to: branches' conditions, and the dynamic
    blocks of email bodies, on either side of a branch too."""
    for child in steps:
        if child.block_type == "send_email":
            yield from body_references(child.value.get("body") or [])
        elif child.block_type == "branch":
            yield from condition_references(child.value.get("condition"))
            yield from _step_references(child.value.get("yes") or [])
            yield from _step_references(child.value.get("no") or [])
