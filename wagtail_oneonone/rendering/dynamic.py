"""Dynamic blocks: which branch of each one a contact sees, asked at render time.

An email body's dynamic block compiles to template source that asks
``dynamic_choice("<block id>")`` and renders the branch whose number comes back (or the
fallback for ``-1``). :class:`DynamicChoices` answers for one contact: it tries each
branch's condition in order (a segment, or a rule tree of its own), remembers the answer
for the rest of the render, and records what it chose so a preview can say so.

Put one in each contact's context before rendering::

    context["dynamic_choice"] = DynamicChoices(contact.pk, body.dynamic_blocks, now=now)

or, for a batch, ``choices_for_contacts(body.dynamic_blocks, contact_ids, now=now)``:
the branches are asked once for the whole batch instead of once per contact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2.exceptions import UndefinedError

#: What ``dynamic_choice()`` returns when no branch applies: the fallback renders.
FALLBACK = -1


@dataclass(frozen=True)
class DynamicBranch:
    """One branch's condition: a segment (by id) or a rule tree of its own."""

    label: str
    segment_id: int | None = None
    rules: Mapping[str, Any] | None = None

    def describe(self, segment_names: Mapping[int, str]) -> str:
        if self.segment_id is not None:
            name = segment_names.get(self.segment_id, f"#{self.segment_id}")
            return f"segment {name}"
        return "rules"


@dataclass(frozen=True)
class DynamicBlockSpec:
    """A dynamic block of an email body: its id, its place and its branches in order."""

    block_id: str
    number: int  # 1 for the body's first dynamic block, 2 for the second, ...
    branches: tuple[DynamicBranch, ...]


@dataclass(frozen=True)
class DynamicOutcome:
    """What one dynamic block showed one contact."""

    block_id: str
    number: int
    branch: int  # index into the block's branches, or FALLBACK
    label: str
    condition: str  # "segment VIP", "rules", or "" for the fallback

    @property
    def is_fallback(self) -> bool:
        return self.branch == FALLBACK

    def __str__(self) -> str:
        if self.is_fallback:
            return f"Dynamic block {self.number}: fallback"
        return f"Dynamic block {self.number}: branch {self.label!r} ({self.condition})"


class DynamicChoices:
    """Callable as ``dynamic_choice(block_id)`` in the generated template.

    ``known`` maps ``(block_id, branch index)`` to a membership answer already worked
    out (by :func:`choices_for_contacts`); anything else is asked of the database, one
    query per branch tried. A segment that no longer exists, or rules that no longer
    compile, fail the message with a clear error rather than send the wrong branch.
    """

    def __init__(
        self,
        contact_id: int | None,
        blocks: Iterable[DynamicBlockSpec],
        *,
        now: dt.datetime | None = None,
        known: Mapping[tuple[str, int], bool] | None = None,
        segment_names: Mapping[int, str] | None = None,
    ) -> None:
        self.contact_id = contact_id
        self.now = now
        self.blocks = {block.block_id: block for block in blocks}
        self.known: dict[tuple[str, int], bool] = dict(known or {})
        self.segment_names: dict[int, str] = dict(segment_names or {})
        self.outcomes: dict[str, DynamicOutcome] = {}

    def __call__(self, block_id: Any) -> int:
        outcome = self.outcomes.get(block_id) if isinstance(block_id, str) else None
        if outcome is None:
            block = self.blocks.get(block_id) if isinstance(block_id, str) else None
            if block is None:
                raise UndefinedError(f"there is no dynamic block {block_id!r} in this email")
            outcome = self._choose(block)
            self.outcomes[block.block_id] = outcome
        return outcome.branch

    def _choose(self, block: DynamicBlockSpec) -> DynamicOutcome:
        for index, branch in enumerate(block.branches):
            if self._matches(block, index, branch):
                return DynamicOutcome(
                    block.block_id,
                    block.number,
                    index,
                    branch.label,
                    branch.describe(self.segment_names),
                )
        return DynamicOutcome(block.block_id, block.number, FALLBACK, "", "")

    def _matches(self, block: DynamicBlockSpec, index: int, branch: DynamicBranch) -> bool:
        answer = self.known.get((block.block_id, index))
        if answer is None:
            if self.contact_id is None:
                return False
            answer = self.contact_id in _members(
                block, index, branch, [self.contact_id], self.now, self.segment_names
            )
            self.known[(block.block_id, index)] = answer
        return answer

    def describe(self) -> list[str]:
        """One line per dynamic block rendered so far, in the body's order."""
        return [str(outcome) for outcome in self.chosen()]

    def chosen(self) -> list[DynamicOutcome]:
        return sorted(self.outcomes.values(), key=lambda outcome: outcome.number)

    def __repr__(self) -> str:
        return f"<dynamic_choice for contact {self.contact_id}>"


def choices_for_contacts(
    blocks: Sequence[DynamicBlockSpec],
    contact_ids: Iterable[int],
    *,
    now: dt.datetime | None = None,
) -> dict[int, DynamicChoices]:
    """A :class:`DynamicChoices` per contact, with every branch asked once for all of them.

    Costs one query for the segments' names, then two per segment branch (the segment,
    its members among the contacts) and one per rule-tree branch; each contact's object
    then renders without touching the database.
    """
    ids = list(dict.fromkeys(contact_ids))
    names = _segment_names(blocks)
    known: dict[int, dict[tuple[str, int], bool]] = {contact_id: {} for contact_id in ids}
    if ids:
        for block in blocks:
            for index, branch in enumerate(block.branches):
                members = _members(block, index, branch, ids, now, names)
                for contact_id in ids:
                    known[contact_id][(block.block_id, index)] = contact_id in members
    return {
        contact_id: DynamicChoices(
            contact_id, blocks, now=now, known=known[contact_id], segment_names=names
        )
        for contact_id in ids
    }


def _segment_names(blocks: Iterable[DynamicBlockSpec]) -> dict[int, str]:
    from ..models import Segment

    ids = {
        branch.segment_id
        for block in blocks
        for branch in block.branches
        if branch.segment_id is not None
    }
    if not ids:
        return {}
    return dict(Segment.objects.filter(pk__in=ids).values_list("pk", "name"))


def _members(
    block: DynamicBlockSpec,
    index: int,
    branch: DynamicBranch,
    contact_ids: list[int],
    now: dt.datetime | None,
    segment_names: dict[int, str],
) -> set[int]:
    """Which of ``contact_ids`` the branch's condition matches: one query."""
    from ..exceptions import SegmentRuleError
    from ..models import Segment
    from ..segments import contacts_matching, segment_contacts

    where = f"dynamic block {block.number}, branch {index + 1} ({branch.label or 'unnamed'})"
    try:
        if branch.segment_id is not None:
            segment = Segment.objects.filter(pk=branch.segment_id).first()
            if segment is None:
                raise UndefinedError(f"{where}: segment {branch.segment_id} no longer exists")
            segment_names[segment.pk] = segment.name
            members = segment_contacts(segment, now=now)
        elif branch.rules is not None:
            members = contacts_matching(branch.rules, now=now)
        else:
            raise UndefinedError(f"{where}: the branch has no condition")
    except SegmentRuleError as exc:
        raise UndefinedError(f"{where}: its rules cannot be used: {exc}") from None
    return set(members.filter(pk__in=contact_ids).values_list("pk", flat=True))
