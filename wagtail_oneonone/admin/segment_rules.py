"""Rule trees as the admin sees them: every problem at once, each with a readable place.

``clean_rules`` stops at the first error, which suits the API; the builder wants to mark
every incomplete part while the user is still building, and to count what is complete
meanwhile. :func:`review_rules` checks each condition on its own, collects the problems
(with the path the builder maps to an element) and keeps a tree of the parts that are
fine, so the live count can leave the unfinished parts out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from ..exceptions import SegmentRuleError
from ..models import Contact, Segment
from ..segments import check_segment_rules
from ..segments.compiler import compile_context, compile_node
from ..segments.conditions import CompileContext, Condition, get_condition
from ..segments.rules import GROUPS, SCHEMA_VERSION, iter_segment_references

_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
# A value left empty in the builder reaches the cleaners as None or "".
_EMPTY_VALUE = re.compile(r"(?:, )?got (?:None|''|nothing)$")
#: Words for the parts of a window, a filter or a comparison below a parameter.
_SUB_LABELS = {
    "amount": "how many",
    "from": "from",
    "to": "to",
    "unit": "unit",
    "type": "type",
    "property": "property",
    "operator": "operator",
    "value": "value",
}


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong in a tree: where (a path), what, and where in words."""

    field: str
    message: str
    where: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "where": self.where}

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class RuleReview:
    """What :func:`review_rules` found.

    ``cleaned`` is the whole tree cleaned when nothing is wrong; ``countable`` is a cleaned
    tree of the parts that are fine (``None`` when nothing can be counted).
    """

    problems: list[RuleProblem] = field(default_factory=list)
    cleaned: dict[str, Any] | None = None
    countable: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        return not self.problems


def context_for(segment_id: int | None) -> CompileContext:
    """Compiling now, as ``segment_id``'s rules would be (so a way back to it is a cycle)."""
    context = compile_context()
    if segment_id is None:
        return context
    return CompileContext(now=context.now, time_zone=context.time_zone, segments=(segment_id,))


def review_rules(tree: Any, segment_id: int | None = None) -> RuleReview:
    """Every problem in ``tree`` (as the segment ``segment_id`` would have it)."""
    review = RuleReview()
    context = context_for(segment_id)
    if not isinstance(tree, Mapping):
        review.problems.append(problem(tree, "rules", _("The rules are not a rule tree.")))
        return review
    if tree.get("version") != SCHEMA_VERSION:
        message = _("unsupported schema version %(version)r (this version reads 1)") % {
            "version": tree.get("version")
        }
        review.problems.append(problem(tree, "version", message))
        return review
    for key in sorted(set(tree) - {"version", "rules"}):
        review.problems.append(problem(tree, key, _("is not part of a rule tree")))
    walker = _Walker(tree, context)
    rules = walker.node(tree.get("rules"), "rules", root=True)
    review.problems.extend(walker.problems)
    if rules is not None:
        countable = {"version": SCHEMA_VERSION, "rules": rules}
        try:
            # Depth and size limits, and anything the parts alone did not show.
            checked = check_segment_rules(countable, segment_id)
        except SegmentRuleError as exc:
            review.problems.append(problem(tree, exc.field, exc.message))
        else:
            review.countable = checked
            if not review.problems:
                review.cleaned = checked
    return review


class _Walker:
    def __init__(self, tree: Mapping[str, Any], context: CompileContext) -> None:
        self.tree = tree
        self.context = context
        self.problems: list[RuleProblem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(problem(self.tree, path, message))

    def node(self, node: Any, path: str, root: bool = False) -> dict[str, Any] | None:
        if not isinstance(node, Mapping):
            self.add(path, _("expected a group or a condition"))
            return None
        if "condition" in node:
            return self.condition(node, path)
        keys = [key for key in GROUPS if key in node]
        if len(keys) != 1 or len(node) != 1:
            self.add(path, _("expected an “all”, “any” or “not” group, or a condition"))
            return None
        key = keys[0]
        if key == "not":
            inner = self.node(node["not"], f"{path}.not")
            return None if inner is None else {"not": inner}
        children = node[key]
        if not isinstance(children, list | tuple):
            self.add(f"{path}.{key}", _("expected a list"))
            return None
        if not children and not root:
            self.add(path, _("this group is empty: add a condition to it, or remove it"))
            return None
        kept = [
            cleaned
            for index, child in enumerate(children)
            if (cleaned := self.node(child, f"{path}.{key}[{index}]")) is not None
        ]
        if children and not kept and not root:
            return None  # nothing in it is complete yet: leave the whole group out
        return {key: kept}

    def condition(self, node: Mapping[str, Any], path: str) -> dict[str, Any] | None:
        try:
            condition = get_condition(node["condition"], f"{path}.condition")
            cleaned = {"condition": condition.name, **condition.clean(node, path)}
            if condition.name == "segment":
                # Expanding the other segment finds cycles and missing segments here, so
                # the error sits on this condition rather than on the whole tree.
                try:
                    compile_node(cleaned, self.context)
                except SegmentRuleError as exc:
                    raise SegmentRuleError(f"{path}.segment", exc.message) from None
        except SegmentRuleError as exc:
            self.add(exc.field, friendly_message(exc.message))
            return None
        return cleaned


def friendly_message(message: str) -> str:
    """An empty input's "expected a number, got None" says what is missing instead."""
    if _EMPTY_VALUE.search(message):
        return _("is required")
    return message


def problem(tree: Any, path: str, message: str) -> RuleProblem:
    return RuleProblem(
        field=path, message=friendly_message(message), where=describe_path(tree, path)
    )


# Paths in words ----------------------------------------------------------------------------


def parse_path(path: str) -> list[str | int]:
    """``rules.all[1].not.window`` → ``["rules", "all", 1, "not", "window"]``."""
    parts: list[str | int] = []
    for match in _TOKEN.finditer(path):
        name, index = match.groups()
        parts.append(int(index) if index is not None else name)
    return parts


def describe_path(tree: Any, path: str) -> str:
    """Where ``path`` points, in words: ``Rule 2 » not » Did something » When » how many``.

    Rules are numbered by their place in the outline (``Rule 2.1`` is the first rule of the
    group that is rule 2), as the builder numbers them.
    """
    parts = parse_path(path)
    if not parts or parts[0] != "rules":
        return _("Schema version") if path == "version" else ""
    node: Any = tree.get("rules") if isinstance(tree, Mapping) else None
    words: list[str] = []
    numbers: list[int] = []
    rule_word = ""
    position = 1
    while position < len(parts):
        part = parts[position]
        following = parts[position + 1] if position + 1 < len(parts) else None
        if part in ("all", "any") and isinstance(following, int):
            numbers.append(following + 1)
            if words and words[-1] == rule_word:
                words.pop()  # "Rule 2.1" already says it is in rule 2
            rule_word = _("Rule %(number)s") % {"number": ".".join(map(str, numbers))}
            words.append(rule_word)
            node = _child(node, str(part), following)
            position += 2
        elif part in ("all", "any"):
            words.append(_("the group"))
            position += 1
        elif part == "not":
            words.append(_("not"))
            node = node.get("not") if isinstance(node, Mapping) else None
            position += 1
        else:
            words.extend(_condition_words(node, parts[position:]))
            break
    else:
        if isinstance(node, Mapping) and "condition" in node:
            words.append(_condition_label(node))
    return " » ".join(words) if words else _("The top group")


def _child(node: Any, key: str, index: int) -> Any:
    if isinstance(node, Mapping) and isinstance(node.get(key), list | tuple):
        children = node[key]
        return children[index] if index < len(children) else None
    return None


def _condition_of(node: Any) -> Condition | None:
    if not isinstance(node, Mapping):
        return None
    try:
        return get_condition(node.get("condition"))
    except SegmentRuleError:
        return None


def _condition_label(node: Mapping[str, Any]) -> str:
    condition = _condition_of(node)
    return str(condition.label) if condition else str(node.get("condition"))


def _condition_words(node: Any, rest: list[str | int]) -> list[str]:
    words = [_condition_label(node)] if isinstance(node, Mapping) else []
    condition = _condition_of(node)
    labels = {
        p.name: str(p.label or p.name.replace("_", " ").capitalize())
        for p in (condition.params if condition else ())
    }
    for position, part in enumerate(rest):
        if isinstance(part, int):
            if position and rest[position - 1] in ("filters", "without_filters"):
                words.append(_("filter %(number)d") % {"number": part + 1})
            else:
                words.append(_("value %(number)d") % {"number": part + 1})
        elif position == 0 and part in labels:
            words.append(labels[part])
        elif part == "condition":
            words.append(_("condition"))
        else:
            words.append(_SUB_LABELS.get(part, part))
    return words


# Segments that use a segment ---------------------------------------------------------------


def segments_using(segment: Segment) -> list[Segment]:
    """Other segments whose rules refer to ``segment``, by name.

    Segments are few, so their trees are read here rather than indexed; trees that do not
    validate are read too, since deleting what they refer to would break them further.
    """
    using = []
    for other in Segment.objects.exclude(pk=segment.pk).only("pk", "name", "rules"):
        rules = other.rules.get("rules") if isinstance(other.rules, Mapping) else None
        for reference in iter_segment_references(rules):
            if str(reference) == str(segment.pk):
                using.append(other)
                break
    return using


# The builder's live preview ----------------------------------------------------------------


@dataclass
class RulePreview:
    """The live count of a tree's finished parts, a few of its members, and its problems."""

    review: RuleReview
    count: int | None = None
    sample: list[Contact] = field(default_factory=list)


def preview_rules(
    tree: Any, segment_id: int | None = None, *, sample_size: int = 10
) -> RulePreview:
    """Count what is finished in ``tree`` and take the newest ``sample_size`` members.

    Raises DatabaseError when the database gives up (a statement timeout, say); problems
    in the rules are reported in ``review``, never raised.
    """
    review = review_rules(tree, segment_id)
    preview = RulePreview(review=review)
    if review.countable is None:
        return preview
    context = context_for(segment_id)
    members = Contact.objects.filter(compile_node(review.countable["rules"], context))
    preview.count = members.count()
    if sample_size and preview.count:
        preview.sample = list(
            members.order_by("-pk").only("pk", "email", "first_name", "last_name")[:sample_size]
        )
    return preview
