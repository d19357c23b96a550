"""A rule tree in words, for the segment page: "All of: Did something: Updated their cart
at least 1 time in the last 24 hours, and no Placed an order since".

The built-in conditions get a sentence each; a host's own condition is described from its
declared parameters ("Loyalty points at least: Points 100"), so every condition reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..events.types import label_for
from ..exceptions import SegmentRuleError
from ..models import Segment
from ..segments.builtins import CONTACT_FIELDS
from ..segments.conditions import Condition, get_condition
from ..segments.properties import OPERATOR_LABELS, VALUE_TYPES

#: Operator words that read better for one value type than the shared label.
TYPED_OPERATOR_LABELS: dict[str, dict[str, str]] = {
    "number": {"gt": "is more than", "lt": "is less than"},
    "date": {"gt": "is after", "lt": "is before"},
}


@dataclass
class RuleLine:
    """One line of the outline: a group's heading or a condition, with what it holds."""

    text: str
    children: list[RuleLine] = field(default_factory=list)
    kind: str = "condition"  # "all", "any", "not" or "condition"


def operator_label(operator: str, value_type: str = "") -> str:
    return TYPED_OPERATOR_LABELS.get(value_type, {}).get(operator) or OPERATOR_LABELS.get(
        operator, operator.replace("_", " ")
    )


def describe_rules(tree: Any) -> RuleLine:
    """The tree (cleaned or not) as an outline of lines."""
    rules = tree.get("rules") if isinstance(tree, Mapping) else None
    return _line(rules)


def rules_in_words(tree: Any) -> str:
    """The tree in one sentence."""
    return _flat(describe_rules(tree))


def _flat(line: RuleLine) -> str:
    if line.kind == "condition" or not line.children:
        return line.text
    joiner = _(", or ") if line.kind == "any" else _(", and ")
    inner = joiner.join(
        f"({_flat(child)})" if child.kind in ("all", "any") and child.children else _flat(child)
        for child in line.children
    )
    return f"{line.text} {inner}"


def _line(node: Any) -> RuleLine:
    if not isinstance(node, Mapping):
        return RuleLine(_("(a part that is not a rule)"))
    if "condition" in node:
        return RuleLine(describe_condition(node))
    if "not" in node:
        return RuleLine(_("Not:"), [_line(node["not"])], kind="not")
    for key in ("all", "any"):
        if isinstance(node.get(key), list | tuple):
            children = [_line(child) for child in node[key]]
            if not children:
                text = _("Everyone (no conditions)") if key == "all" else _("No one (empty “any”)")
                return RuleLine(text, kind=key)
            return RuleLine(_("All of:") if key == "all" else _("Any of:"), children, kind=key)
    return RuleLine(_("(a part that is not a rule)"))


def describe_condition(node: Mapping[str, Any]) -> str:
    """``Label: what it asks``; unknown conditions and odd values still read."""
    try:
        condition = get_condition(node.get("condition"))
    except SegmentRuleError:
        return _("Unknown condition “%(name)s”") % {"name": node.get("condition")}
    describer = _DESCRIBERS.get(condition.name)
    try:
        detail = describer(node) if describer else _generic(condition, node)
    except (KeyError, TypeError, ValueError, IndexError):
        detail = _generic(condition, node)
    return f"{condition.label}: {detail}" if detail else str(condition.label)


# Values ----------------------------------------------------------------------------------


def _quote(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return f"“{value}”"


def _comparison(params: Mapping[str, Any], value_type: str) -> str:
    operator = str(params.get("operator", ""))
    words = operator_label(operator, value_type)
    value = params.get("value")
    if value is None:
        return words
    if operator == "within_last_days":
        return ngettext(
            "is within the last %(n)s day", "is within the last %(n)s days", int(value)
        ) % {"n": value}
    if operator == "more_than_days_ago":
        return ngettext(
            "is more than %(n)s day ago", "is more than %(n)s days ago", int(value)
        ) % {"n": value}
    if operator == "between" and isinstance(value, list | tuple) and len(value) == 2:
        return _("%(words)s %(low)s and %(high)s") % {
            "words": words,
            "low": _value(value[0], value_type),
            "high": _value(value[1], value_type),
        }
    if isinstance(value, list | tuple):
        return f"{words} {', '.join(_value(item, value_type) for item in value)}"
    return f"{words} {_value(value, value_type)}"


def _value(value: Any, value_type: str) -> str:
    if value_type in ("number", "date") and not isinstance(value, bool):
        return str(value)
    return _quote(value)


def _window(window: Any) -> str:
    if not isinstance(window, Mapping) or window.get("type") in (None, "ever"):
        return ""
    unit = str(window.get("unit", "days"))
    if window["type"] == "last":
        return _(" in the last %(amount)s %(unit)s") % {"amount": window["amount"], "unit": unit}
    return _(" between %(start)s and %(end)s %(unit)s ago") % {
        "start": window["from"],
        "end": window["to"],
        "unit": unit,
    }


def filters_in_words(filters: Any) -> str:
    """Property filters as words to follow an event's name (" where total at least 100")."""
    if not filters:
        return ""
    parts = [
        f"{item.get('property')} {_comparison(item, str(item.get('type', 'text')))}"
        for item in filters
        if isinstance(item, Mapping)
    ]
    return _(" where %(filters)s") % {"filters": _(" and ").join(parts)}


def _labels(choices: Sequence[tuple[str, str]], values: Any) -> str:
    names = dict(choices)
    items = values if isinstance(values, list | tuple) else [values]
    return _(" or ").join(str(names.get(str(item), item)) for item in items)


def _choices(condition_name: str, param_name: str) -> list[tuple[str, str]]:
    condition = get_condition(condition_name)
    param = next(param for param in condition.params if param.name == param_name)
    return param.choice_list()


# The built-in conditions -----------------------------------------------------------------


def _event(node: Mapping[str, Any]) -> str:
    text = label_for(str(node["event_type"])) + filters_in_words(node.get("filters"))
    operator = node.get("count_operator", "at_least")
    count = int(node.get("count", 1))
    if operator == "none":
        text += _(" zero times")
    else:
        words = {"at_least": _("at least"), "at_most": _("at most"), "exactly": _("exactly")}
        times = ngettext("%(n)s time", "%(n)s times", count) % {"n": count}
        text += f" {words.get(operator, operator)} {times}"
    text += _window(node.get("window"))
    if node.get("without_event"):
        text += _(", and no %(event)s%(filters)s since") % {
            "event": label_for(str(node["without_event"])),
            "filters": filters_in_words(node.get("without_filters")),
        }
    return text


def _money(node: Mapping[str, Any]) -> str:
    metric = _labels(_choices("money", "metric"), node.get("metric", "total_spend"))
    return f"{metric} {_comparison(node, 'number')}{_window(node.get('window'))}"


def _field(node: Mapping[str, Any]) -> str:
    label, value_type = CONTACT_FIELDS[node["field"]]
    return f"{label} {_comparison(node, value_type)}"


def _attribute(node: Mapping[str, Any]) -> str:
    value_type = str(node.get("type", "text"))
    kind = VALUE_TYPES.get(value_type, value_type).lower()
    return f"{node['attribute']} ({kind}) {_comparison(node, value_type)}"


def _consent(node: Mapping[str, Any]) -> str:
    return _labels(_choices("consent", "status"), node["status"])


def _suppressed(node: Mapping[str, Any]) -> str:
    if not node.get("suppressed", True):
        return _("not suppressed")
    if node.get("reasons"):
        return _("suppressed for %(reasons)s") % {
            "reasons": _labels(_choices("suppressed", "reasons"), node["reasons"])
        }
    return _("suppressed")


def _anniversary(node: Mapping[str, Any]) -> str:
    name = node.get("field", "birthday")
    what = node.get("attribute") if name == "attribute" else None
    what = what or _labels(_choices("anniversary", "field"), name)
    days = int(node.get("days", 7))
    if days == 0:
        return _("%(what)s today") % {"what": what}
    return ngettext(
        "%(what)s today or in the next %(n)s day", "%(what)s today or in the next %(n)s days", days
    ) % {"what": what, "n": days}


def _engagement(node: Mapping[str, Any]) -> str:
    action = str(node["action"]).replace("_", " ")
    days = int(node.get("days", 30))
    if node.get("did", True):
        return _("%(action)s an email in the last %(n)s days") % {"action": action, "n": days}
    return _("not %(action)s an email in the last %(n)s days") % {"action": action, "n": days}


def _activity(node: Mapping[str, Any]) -> str:
    days = int(node.get("days", 90))
    if node["status"] == "active":
        return _("active in the last %(n)s days") % {"n": days}
    return _("dormant for %(n)s days") % {"n": days}


def _lifecycle(node: Mapping[str, Any]) -> str:
    return _labels(_choices("lifecycle", "stages"), node["stages"])


def _segment(node: Mapping[str, Any]) -> str:
    other = Segment.objects.filter(pk=int(node["segment"])).values_list("name", flat=True).first()
    name = f"“{other}”" if other else _("segment #%(id)s (deleted)") % {"id": node["segment"]}
    return (
        _("in %(name)s") % {"name": name}
        if node.get("member", True)
        else _("not in %(name)s") % {"name": name}
    )


def _generic(condition: Condition, node: Mapping[str, Any]) -> str:
    parts = []
    for param in condition.params:
        if param.name not in node:
            continue
        value = node[param.name]
        if param.kind in ("choice", "choices"):
            shown = _labels(param.choice_list(), value)
        elif param.kind == "window":
            shown = _window(value).strip() or _("ever")
        elif param.kind == "event_type":
            shown = label_for(str(value))
        elif isinstance(value, list | tuple):
            shown = ", ".join(_quote(item) for item in value)
        else:
            shown = _quote(value) if isinstance(value, bool | str) else str(value)
        parts.append(f"{param.label or param.name.replace('_', ' ').capitalize()} {shown}")
    return ", ".join(parts)


_DESCRIBERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "event": _event,
    "money": _money,
    "field": _field,
    "attribute": _attribute,
    "consent": _consent,
    "suppressed": _suppressed,
    "anniversary": _anniversary,
    "email_engagement": _engagement,
    "activity": _activity,
    "lifecycle": _lifecycle,
    "segment": _segment,
}
