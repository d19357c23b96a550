"""Which campaigns use a segment: as audience, as exclusion, or in a dynamic block."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..models import Campaign, CampaignSend, CampaignStatus, Segment
from ..segments.rules import iter_segment_references


def campaigns_using(segment: Segment) -> list[Campaign]:
    """Campaigns not yet sent or cancelled whose published version, latest draft or
    scheduled revision uses ``segment``. Campaigns are few: their versions are read here."""
    finished = CampaignSend.objects.filter(
        status__in=[CampaignStatus.SENT, CampaignStatus.CANCELLED]
    ).values("pk")
    using = []
    for campaign in Campaign.objects.exclude(pk__in=finished).order_by("name"):
        if any(segment.pk in segments_of(version) for version in _versions(campaign)):
            using.append(campaign)
    return using


def segments_of(campaign: Campaign) -> set[int]:
    """The ids of every segment one version of a campaign refers to."""
    ids = {segment.pk for segment in campaign.audience.all()}
    ids |= {segment.pk for segment in campaign.exclusions.all()}
    for reference in body_references(campaign.body):
        try:
            ids.add(int(reference))
        except (TypeError, ValueError):
            continue
    return ids


def _versions(campaign: Campaign) -> Iterator[Campaign]:
    yield campaign
    for revision in {campaign.latest_revision, _send_revision(campaign)}:
        if revision is not None:
            version = revision.as_object()
            assert isinstance(version, Campaign)
            yield version


def _send_revision(campaign: Campaign) -> Any:
    send = CampaignSend.objects.filter(pk=campaign.pk).select_related("revision").first()
    return send.revision if send is not None else None


def body_references(blocks: Iterable[Any]) -> Iterator[Any]:
    """Segment ids (as stored) that an email body's dynamic blocks refer to, nested too."""
    for block in blocks:
        if block.block_type != "dynamic":
            continue
        value = block.value
        for branch in value.get("branches") or []:
            yield from condition_references(branch.get("condition"))
            yield from body_references(branch.get("content") or [])
        yield from body_references(value.get("fallback") or [])


def condition_references(conditions: Iterable[Any] | None) -> Iterator[Any]:
    """Segment ids a condition stream refers to: a segment, or a rule tree (JSON) that
    names segments."""
    for condition in conditions or []:
        if condition.block_type == "segment":
            yield condition.value
        elif condition.block_type == "rules" and condition.value:
            try:
                tree = json.loads(condition.value)
            except ValueError:
                continue
            if isinstance(tree, dict):
                yield from iter_segment_references(tree.get("rules"))
