"""Which flows use a segment: as trigger, entry filter, goal, or in a branch's condition."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Q

from ..models import Flow, Segment
from ..segments.rules import iter_segment_references


def flows_using(segment: Segment) -> list[Flow]:
    """Every flow that refers to ``segment`` (flows are few: their steps are read here)."""
    by_field = Q(trigger_segment=segment) | Q(entry_segment=segment) | Q(goal_left_segment=segment)
    using = {flow.pk: flow for flow in Flow.objects.filter(by_field)}
    for flow in Flow.objects.exclude(pk__in=list(using)):
        if str(segment.pk) in {str(ref) for ref in _step_references(flow.steps)}:
            using[flow.pk] = flow
    return sorted(using.values(), key=lambda flow: flow.name)


def _step_references(steps: Iterable[Any]) -> Iterator[Any]:
    for child in steps:
        if child.block_type != "branch":
            continue
        for condition in child.value.get("condition") or []:
            if condition.block_type == "segment":
                yield condition.value
            elif condition.block_type == "rules" and condition.value:
                try:
                    tree = json.loads(condition.value)
                except ValueError:
                    continue
                if isinstance(tree, dict):
                    yield from iter_segment_references(tree.get("rules"))
