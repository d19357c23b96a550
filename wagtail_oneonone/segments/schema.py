"""What the admin's segment builder needs to know: every condition and its inputs, as JSON."""

from __future__ import annotations

from typing import Any

from .conditions import Param, registered_conditions
from .properties import OPERATOR_LABELS, OPERATORS, VALUE_TYPES


def param_choices(param: Param) -> list[list[str]]:
    """The choices an input offers, read when asked (event types and segments change)."""
    if param.kind == "event_type":
        from ..events.types import registered_event_types

        return [[t.name, str(t.label)] for t in registered_event_types()]
    if param.kind == "segment":
        from ..models import Segment

        return [[str(pk), name] for pk, name in Segment.objects.values_list("pk", "name")]
    if param.name == "operator":
        return [[value, OPERATOR_LABELS.get(value, label)] for value, label in param.choice_list()]
    return [[value, label] for value, label in param.choice_list()]


def conditions_schema() -> dict[str, Any]:
    """Every registered condition with its parameters, plus the comparison vocabulary."""
    return {
        "conditions": [
            {
                "name": condition.name,
                "label": str(condition.label),
                "group": condition.group,
                "description": condition.description,
                "params": [param.describe() for param in condition.params],
            }
            for condition in registered_conditions()
        ],
        "value_types": VALUE_TYPES,
        "operators": {kind: list(ops) for kind, ops in OPERATORS.items()},
        "operator_labels": OPERATOR_LABELS,
    }
