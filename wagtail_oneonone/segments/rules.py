"""The rule tree: JSON with a schema version, groups and conditions, checked and normalised.

::

    {"version": 1,
     "rules": {"all": [
        {"condition": "event", "event_type": "cart_updated",
         "window": {"type": "last", "amount": 24, "unit": "hours"},
         "without_event": "order_placed"},
        {"not": {"condition": "consent", "status": ["unsubscribed"]}}]}}

A group is ``{"all": [...]}``, ``{"any": [...]}`` or ``{"not": node}``; an empty ``all``
matches everyone and an empty ``any`` no one. Every error names the path to the part that
is wrong (``rules.all[0].window.amount``), so the admin can show it beside that part.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..exceptions import SegmentRuleError
from .conditions import get_condition

SCHEMA_VERSION = 1
MAX_DEPTH = 10
MAX_CONDITIONS = 200
GROUPS = ("all", "any", "not")


def empty_rules() -> dict[str, Any]:
    """A tree that matches every contact; what a new segment starts with."""
    return {"version": SCHEMA_VERSION, "rules": {"all": []}}


def clean_rules(tree: Any) -> dict[str, Any]:
    """``tree`` checked against the schema and every condition's parameters, normalised."""
    if not isinstance(tree, Mapping):
        raise SegmentRuleError("rules", f"expected an object, got {type(tree).__name__}")
    version = tree.get("version")
    if version != SCHEMA_VERSION:
        raise SegmentRuleError(
            "version", f"unsupported schema version {version!r} (this version reads 1)"
        )
    unknown = set(tree) - {"version", "rules"}
    if unknown:
        raise SegmentRuleError(sorted(unknown)[0], "is not part of a rule tree")
    counter = [0]
    return {
        "version": SCHEMA_VERSION,
        "rules": _clean_node(tree.get("rules"), "rules", 1, counter),
    }


def _clean_node(node: Any, path: str, depth: int, counter: list[int]) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise SegmentRuleError(path, f"groups are nested more than {MAX_DEPTH} deep")
    if not isinstance(node, Mapping):
        raise SegmentRuleError(path, "expected a group or a condition (an object)")
    if "condition" in node:
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise SegmentRuleError(path, f"a segment has at most {MAX_CONDITIONS} conditions")
        condition = get_condition(node["condition"], f"{path}.condition")
        return {"condition": condition.name, **condition.clean(node, path)}
    keys = [key for key in GROUPS if key in node]
    if len(keys) != 1 or len(node) != 1:
        raise SegmentRuleError(
            path,
            "expected {'all': [...]}, {'any': [...]}, {'not': {...}} or a condition "
            f"{{'condition': ...}}, got keys {sorted(node)}",
        )
    key = keys[0]
    if key == "not":
        return {"not": _clean_node(node["not"], f"{path}.not", depth + 1, counter)}
    children = node[key]
    if not isinstance(children, list | tuple):
        raise SegmentRuleError(f"{path}.{key}", "expected a list")
    return {
        key: [
            _clean_node(child, f"{path}.{key}[{index}]", depth + 1, counter)
            for index, child in enumerate(children)
        ]
    }


def iter_conditions(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every condition node in a cleaned tree's ``rules``, depth first."""
    if "condition" in node:
        yield node
    elif "not" in node:
        yield from iter_conditions(node["not"])
    else:
        for child in node.get("all", node.get("any", [])):
            yield from iter_conditions(child)


def referenced_segments(tree: Mapping[str, Any]) -> set[int]:
    """Ids of the segments a cleaned tree refers to directly."""
    return {
        int(node["segment"])
        for node in iter_conditions(tree["rules"])
        if node["condition"] == "segment"
    }


def iter_segment_references(node: Any) -> Iterator[Any]:
    """The ``segment`` of every "In another segment" condition in a raw (unchecked) tree."""
    if not isinstance(node, Mapping):
        return
    if node.get("condition") == "segment":
        yield node.get("segment")
        return
    for key in GROUPS:
        child = node.get(key)
        if isinstance(child, list | tuple):
            for item in child:
                yield from iter_segment_references(item)
        elif child is not None:
            yield from iter_segment_references(child)
