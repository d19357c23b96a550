"""Using segments: members at a moment, membership of one contact, counts over time."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from ..exceptions import SegmentRuleError
from ..models import Contact, Segment, SegmentCount
from .compiler import compile_context, compile_node
from .conditions import CompileContext
from .rules import clean_rules

logger = logging.getLogger(__name__)


def segment_contacts(segment: Segment, *, now: dt.datetime | None = None) -> QuerySet[Contact]:
    """The segment's members at ``now``; raises SegmentRuleError if its rules are broken."""
    rules = clean_rules(segment.rules)["rules"]
    return Contact.objects.filter(compile_node(rules, _context_as(segment.pk, now)))


def check_segment_rules(rules: Any, segment_id: int | None = None) -> dict[str, Any]:
    """``rules`` cleaned and compiled as ``segment_id``'s would be: unknown conditions,
    bad parameters, missing segments and cycles all raise SegmentRuleError."""
    cleaned = clean_rules(rules)
    compile_node(cleaned["rules"], _context_as(segment_id))
    return cleaned


def _context_as(segment_id: int | None, now: dt.datetime | None = None) -> CompileContext:
    """Compiling as this segment: segments it refers to are expanded with it in the chain,
    so a reference back to it is seen as a cycle."""
    context = compile_context(now)
    if segment_id is None:
        return context
    return CompileContext(now=context.now, time_zone=context.time_zone, segments=(segment_id,))


def is_member(
    contact: Contact | int, segment: Segment | str, *, now: dt.datetime | None = None
) -> bool:
    """Whether one contact is in the segment (by instance or slug) right now."""
    if isinstance(segment, str):
        segment = Segment.objects.get(slug=segment)
    contact_id = contact if isinstance(contact, int) else contact.pk
    return segment_contacts(segment, now=now).filter(pk=contact_id).exists()


def members_among(
    segment: Segment, contact_ids: Iterable[int], *, now: dt.datetime | None = None
) -> set[int]:
    """Which of these contacts are members: one query for a whole batch."""
    ids = list(contact_ids)
    if not ids:
        return set()
    matching = segment_contacts(segment, now=now).filter(pk__in=ids)
    return set(matching.values_list("pk", flat=True))


def record_count(segment: Segment, *, now: dt.datetime | None = None) -> SegmentCount | None:
    """Count the segment now and keep the figure; a broken segment is logged, not raised."""
    now = now or timezone.now()
    try:
        count = segment_contacts(segment, now=now).count()
    except SegmentRuleError as exc:
        logger.warning("Segment %s (%s) was not counted: %s", segment.pk, segment.name, exc)
        return None
    return SegmentCount.objects.create(segment=segment, counted_at=now, count=count)


def record_all_counts(*, now: dt.datetime | None = None) -> int:
    """The daily count of every segment; returns how many were recorded."""
    recorded = 0
    for segment in Segment.objects.only("pk", "name", "rules").iterator():
        if record_count(segment, now=now) is not None:
            recorded += 1
    return recorded
