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

from django.db.models import Exists, OuterRef, Q, QuerySet
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


def compile_node(
    node: Mapping[str, Any], context: CompileContext, *, alternatives: bool = True
) -> Q:
    """A cleaned node (a group or a condition) as a ``Q``.

    ``not`` moves down to the conditions (``not all`` is ``any`` of the negations, ``not
    any`` is ``all`` of them), so negation never wraps a group. With ``alternatives`` (a
    tree's root), an ``any`` whose alternatives read other tables is matched as ``pk IN
    (SELECT … UNION ALL SELECT …)``, one query for each of them (see ``_union``); without,
    the node may end up anywhere, so it is compiled as if inside an ``OR``.
    """
    return _compile(node, context, negated=False, place="root" if alternatives else "or")


def _compile(node: Mapping[str, Any], context: CompileContext, *, negated: bool, place: str) -> Q:
    """``place`` is ``root`` (an ``any`` may become a union), ``and`` (a conjunct, which
    the database can join) or ``or`` (inside an ``OR``: a test made for each contact)."""
    if "condition" in node:
        condition = get_condition(node["condition"])
        params = {key: value for key, value in node.items() if key != "condition"}
        q = condition.compile(params, context)
        if negated or place == "or":
            q = _correlated(q)
        return ~q if negated else q
    if "not" in node:
        return _compile(node["not"], context, negated=not negated, place=place)
    if _acts_as_any(node, negated):
        if place == "root":
            return _union(_alternatives(node, context, negated))
        parts = [
            _compile(child, context, negated=negated, place="or") for child in _children(node)
        ]
        # An empty Q would vanish inside an "any" ("Q() | q" is "q"): say it in SQL.
        return _either(parts) if parts else NOBODY
    q = EVERYONE
    for index, child in enumerate(_children(node)):
        part = _compile(child, context, negated=negated, place="or" if place == "or" else "and")
        q = part if index == 0 else q & part
    return q


def _correlated(q: Q) -> Q:
    """``q`` with each ``pk IN (SELECT contact_id …)`` (not grouped) as ``EXISTS (… WHERE
    contact_id = pk)``, for use under ``NOT`` or inside ``OR``.

    PostgreSQL turns ``NOT EXISTS`` into an anti-join, never ``NOT IN``; and inside an
    ``OR`` an ``IN`` list is hashed only while it fits in ``work_mem``, past which it is
    rescanned for every contact (hours at a million), where ``EXISTS`` falls back to an
    index probe a contact. A grouped list (``HAVING``) stays ``IN``: correlated, it would
    be aggregated again for every contact.
    """
    children: list[Any] = []
    for child in q.children:
        if isinstance(child, Q):
            children.append(_correlated(child))
            continue
        lookup, value = child if isinstance(child, tuple) else (None, None)
        query = getattr(value, "query", None)
        if (
            lookup in ("pk__in", "id__in")
            and isinstance(value, QuerySet)
            and query is not None
            and query.group_by is None
            and not query.annotations
            and len(query.values_select) == 1
        ):
            column = query.values_select[0]
            children.append(Q(Exists(value.filter(**{column: OuterRef("pk")}))))
        else:
            children.append(child)
    return Q(*children, _connector=q.connector, _negated=q.negated)


def _alternatives(node: Mapping[str, Any], context: CompileContext, negated: bool) -> list[Q]:
    """Each alternative of an ``any`` (under this polarity), nested ``any``s flattened."""
    parts = []
    for child in _children(node):
        child_negated = negated
        while "not" in child:
            child, child_negated = child["not"], not child_negated
        if _acts_as_any(child, child_negated):
            parts.extend(_alternatives(child, context, child_negated))
        else:
            parts.append(_compile(child, context, negated=child_negated, place="and"))
    return parts


def _children(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    children: list[Mapping[str, Any]] = node["all"] if "all" in node else node["any"]
    return children


def _acts_as_any(node: Mapping[str, Any], negated: bool) -> bool:
    return ("any" in node) != negated and ("any" in node or "all" in node)


def _either(parts: list[Q]) -> Q:
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q


def _union(parts: list[Q]) -> Q:
    """Alternatives that read other tables (events, suppressions) as one query each.

    Inside ``a OR b`` every such condition is a subplan PostgreSQL runs for each contact
    (hashed only while its result fits in ``work_mem``), which also inflates the plan's
    cost estimate enough to set off JIT compilation. As separate ``SELECT``s each is
    planned with joins, and ``IN`` over their ``UNION ALL`` is one semi-join. Alternatives
    on the contact's own columns share one branch; with nothing else, ``OR`` stays.
    """
    if not parts:
        return NOBODY
    reading = [_reads_other_tables(part) for part in parts]
    if len(parts) == 1 or not any(reading):
        return _either(parts)
    plain = [part for part, reads in zip(parts, reading, strict=True) if not reads]
    branches = [
        Contact.objects.order_by().filter(part).values("pk")
        for part, reads in zip(parts, reading, strict=True)
        if reads
    ]
    if plain:
        branches.append(Contact.objects.order_by().filter(_either(plain)).values("pk"))
    return Q(pk__in=branches[0].union(*branches[1:], all=True))


def _reads_other_tables(q: Q) -> bool:
    """Whether ``q`` has a subquery (an event or suppression condition, say)."""
    where = Contact.objects.filter(q).query.where
    return _has_subquery(where)


def _has_subquery(node: Any) -> bool:
    for child in getattr(node, "children", ()):
        if hasattr(child, "children"):
            if _has_subquery(child):
                return True
        elif getattr(child, "subquery", False) or getattr(child, "contains_subquery", False):
            return True
    return False


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
    # Expanded where it is used (maybe inside an "any", or negated), so as one Q.
    return compile_node(cleaned["rules"], inner, alternatives=False)
