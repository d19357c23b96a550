"""Rule tree → one ``Q`` over ``Contact`` (Exists, IN subqueries, annotations); no contact
is ever filtered in Python.

``now`` is fixed when compiling, so every window in a tree means the same moment, and
tests and previews can ask "who matched at 09:00 yesterday?".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from ..conf import app_settings
from ..exceptions import SegmentRuleError
from ..models import Contact
from .conditions import CompileContext, get_condition
from .rules import clean_rules

EVERYONE = Q(pk__isnull=False)
NOBODY = Q(pk__in=[])


def compile_context(now: dt.datetime | None = None) -> CompileContext:
    return CompileContext(
        now=now or timezone.now(), time_zone=ZoneInfo(app_settings.default_time_zone)
    )


def compile_rules(
    tree: Any, *, now: dt.datetime | None = None, context: CompileContext | None = None
) -> Q:
    """The ``Q`` matching the contacts ``tree`` describes; raises SegmentRuleError."""
    cleaned = clean_rules(tree)
    return compile_node(cleaned["rules"], context or compile_context(now))


def compile_node(node: Mapping[str, Any], context: CompileContext) -> Q:
    """A cleaned node (a group or a condition) as a ``Q``."""
    if "condition" in node:
        condition = get_condition(node["condition"])
        params = {key: value for key, value in node.items() if key != "condition"}
        return condition.compile(params, context)
    if "not" in node:
        return ~compile_node(node["not"], context)
    key = "all" if "all" in node else "any"
    children = node[key]
    if not children:
        # An empty Q would vanish inside an "any" ("Q() | q" is "q"): say it in SQL.
        return EVERYONE if key == "all" else NOBODY
    q = compile_node(children[0], context)
    for child in children[1:]:
        q = (
            (q & compile_node(child, context))
            if key == "all"
            else (q | compile_node(child, context))
        )
    return q


def contacts_matching(
    tree: Any, *, now: dt.datetime | None = None, queryset: QuerySet[Contact] | None = None
) -> QuerySet[Contact]:
    """The contacts ``tree`` matches, as a lazy queryset."""
    base = queryset if queryset is not None else Contact.objects.all()
    return base.filter(compile_rules(tree, now=now))


def segment_q(segment_id: int, context: CompileContext) -> Q:
    """Another segment's rules, expanded in place; a segment reached twice is a cycle."""
    from ..models import Segment

    if segment_id in context.segments:
        chain = " → ".join(str(i) for i in (*context.segments, segment_id))
        raise SegmentRuleError("segment", f"segments refer to each other in a cycle ({chain})")
    segment = Segment.objects.filter(pk=segment_id).only("pk", "rules", "name").first()
    if segment is None:
        raise SegmentRuleError("segment", f"segment {segment_id} does not exist")
    try:
        cleaned = clean_rules(segment.rules)
    except SegmentRuleError as exc:
        raise SegmentRuleError(
            "segment", f"segment {segment.name!r} has invalid rules: {exc}"
        ) from None
    inner = CompileContext(
        now=context.now,
        time_zone=context.time_zone,
        segments=(*context.segments, segment_id),
    )
    return compile_node(cleaned["rules"], inner)
