"""``contact.in_segment("vip")`` in templates: membership of a segment at render time.

Rendering reads segments (not the other way round): a template asks a yes/no question of
the segment compiler, one query per segment asked about per contact, remembered for the
rest of that render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from jinja2.exceptions import UndefinedError


class SegmentMembership:
    """Callable as ``contact.in_segment(slug)``; an unknown slug fails the message, visibly."""

    def __init__(
        self,
        contact_id: int | None,
        *,
        now: dt.datetime | None = None,
        known: dict[str, bool] | None = None,
    ) -> None:
        self.contact_id = contact_id
        self.now = now
        self.known: dict[str, bool] = dict(known or {})

    def __call__(self, slug: Any) -> bool:
        if not isinstance(slug, str) or not slug:
            raise UndefinedError('in_segment() takes a segment\'s slug: in_segment("vip")')
        if slug not in self.known:
            self.known[slug] = self._ask(slug)
        return self.known[slug]

    def _ask(self, slug: str) -> bool:
        from ..exceptions import SegmentRuleError
        from ..models import Segment
        from ..segments.membership import segment_contacts

        segment = Segment.objects.filter(slug=slug).first()
        if segment is None:
            raise UndefinedError(f"there is no segment with the slug {slug!r}")
        if self.contact_id is None:
            return False
        try:
            members = segment_contacts(segment, now=self.now)
            return members.filter(pk=self.contact_id).exists()
        except SegmentRuleError as exc:
            raise UndefinedError(
                f"segment {slug!r} has rules that cannot be used: {exc}"
            ) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SegmentMembership):
            return NotImplemented
        return (self.contact_id, self.now) == (other.contact_id, other.now)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<in_segment for contact {self.contact_id}>"


def segment_slugs_used(tree: Any) -> list[tuple[str, int]]:
    """``(slug, line)`` for each ``contact.in_segment("slug")`` with a literal slug."""
    from jinja2 import nodes

    found = []
    for call in tree.find_all(nodes.Call):
        target = call.node
        if (
            isinstance(target, nodes.Getattr)
            and target.attr == "in_segment"
            and call.args
            and isinstance(call.args[0], nodes.Const)
            and isinstance(call.args[0].value, str)
        ):
            found.append((call.args[0].value, call.lineno))
    return found
