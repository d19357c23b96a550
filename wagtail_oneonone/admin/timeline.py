"""Turning events, and what flows did with the contact, into the lines of a contact's
timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.paginator import Page
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from ..events.types import get_event_type, label_for
from ..exceptions import EventValidationError
from ..models import EnrollmentLog, Event, Flow, OutboxStatus

# Properties worth showing, in this order, with their labels.
_KEY_PROPERTIES: tuple[tuple[str, Any], ...] = (
    ("name", _("Product")),
    ("title", _("Title")),
    ("order_id", _("Order")),
    ("product_id", _("Product id")),
    ("category", _("Category")),
    ("action", _("Action")),
    ("source", _("Source")),
    ("form", _("Form")),
    ("url", _("URL")),
)
_MAX_OTHER_PROPERTIES = 3
_MAX_ITEMS_LISTED = 3
_TIMES = "\u00d7"


@dataclass(frozen=True)
class Detail:
    label: str
    value: str
    is_link: bool = False


@dataclass(frozen=True)
class TimelineEntry:
    event: Event
    label: str
    contact_time: dt.datetime | None
    amount: str
    details: list[Detail]
    kind: str = "event"

    @property
    def at(self) -> dt.datetime:
        return self.event.occurred_at


def contact_zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def summarise_items(items: Any) -> str:
    """``"2 x Mug, 1 x Tee (3 items)"`` (with a multiplication sign); long carts are cut short."""
    if not isinstance(items, list) or not items:
        return ""
    parts: list[str] = []
    total = 0
    for item in items:
        if not isinstance(item, Mapping):
            continue
        quantity = item.get("quantity")
        quantity = quantity if isinstance(quantity, int) else 1
        total += quantity
        if len(parts) < _MAX_ITEMS_LISTED:
            name = item.get("name") or item.get("product_id") or "?"
            parts.append(f"{quantity} {_TIMES} {name}")
    more = len(items) - len(parts)
    text = ", ".join(parts) + (f", +{more} more" if more > 0 else "")
    return f"{text} ({total} item{'s' if total != 1 else ''})"


def _is_safe_link(value: str) -> bool:
    # Only http(s) and site-relative links become <a>: never javascript: or data: URLs.
    return value.startswith(("https://", "http://", "/")) and not value.startswith("//")


def describe_properties(
    properties: Mapping[str, Any], hidden: frozenset[str] = frozenset()
) -> list[Detail]:
    """The key properties of an event, then a few others; ``hidden`` ones are left out."""
    details = []
    for key, label in _KEY_PROPERTIES:
        value = properties.get(key)
        if value in (None, "") or isinstance(value, dict | list):
            continue
        text = str(value)
        details.append(Detail(str(label), text, is_link=key == "url" and _is_safe_link(text)))
    items = summarise_items(properties.get("items"))
    if items:
        details.append(Detail(str(_("Items")), items))
    shown = {key for key, _label in _KEY_PROPERTIES} | {"items"} | hidden
    others = [
        (key, value)
        for key, value in properties.items()
        if key not in shown and isinstance(value, str | int | float | bool) and value != ""
    ]
    for key, value in others[:_MAX_OTHER_PROPERTIES]:
        details.append(Detail(key.replace("_", " ").capitalize(), str(value)))
    return details


def describe_event(event: Event, zone: ZoneInfo | None) -> TimelineEntry:
    amount = ""
    hidden: frozenset[str] = frozenset()
    if event.value is not None:
        amount = f"{event.value} {event.currency}".strip()
        # The property the value came from (an order's total) would only repeat it.
        try:
            value_property = get_event_type(event.type).value_property
        except EventValidationError:
            value_property = None
        if value_property:
            hidden = frozenset({value_property})
    return TimelineEntry(
        event=event,
        label=label_for(event.type),
        contact_time=event.occurred_at.astimezone(zone) if zone else None,
        amount=amount,
        details=describe_properties(event.properties or {}, hidden),
    )


# What flows did ----------------------------------------------------------------------------

#: What each action of a flow's log says on the timeline.
FLOW_ACTION_LABELS: dict[str, Any] = {
    "entered": _("Entered the flow"),
    "step": _("Reached a step of the flow"),
    "sent": _("Was sent an email by the flow"),
    "notified": _("A colleague was notified by the flow"),
    "updated": _("Was updated by the flow"),
    "completed": _("Completed the flow"),
    "goal": _("Reached the goal of the flow"),
    "exited": _("Left the flow"),
}
#: Flow lines shown with one page of events, at most.
MAX_FLOW_LINES = 200


@dataclass(frozen=True)
class FlowTimelineEntry:
    """One line of a flow's log about the contact: entered, a step, an email, the end."""

    at: dt.datetime
    action: str
    label: str
    flow_id: int
    flow_name: str
    step: str  # "Step 2: Send an email", or "" (entering, a removed step)
    detail: str  # the email's subject, what was updated, why they left
    message_id: int | None
    message_status: str
    contact_time: dt.datetime | None
    kind: str = "flow"


def flow_timeline(
    contact_id: int,
    zone: ZoneInfo | None,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = MAX_FLOW_LINES,
) -> list[FlowTimelineEntry]:
    """The contact's flow log from ``since`` (inclusive) to ``until`` (exclusive), newest
    first: two queries, whatever the number of lines or flows."""
    from .flow_report import step_labels

    logs = EnrollmentLog.objects.filter(enrollment__contact_id=contact_id)
    if since is not None:
        logs = logs.filter(at__gte=since)
    if until is not None:
        logs = logs.filter(at__lt=until)
    rows = list(
        logs.order_by("-at", "-id").values_list(
            "at",
            "action",
            "step_id",
            "detail",
            "message_id",
            "message__status",
            "message__subject",
            "enrollment__flow_id",
        )[:limit]
    )
    flows = Flow.objects.in_bulk({row[-1] for row in rows})
    labels = {flow_id: step_labels(flow) for flow_id, flow in flows.items()}
    lines = []
    for at, action, step_id, detail, message_id, status, subject, flow_id in rows:
        flow = flows.get(flow_id)
        lines.append(
            FlowTimelineEntry(
                at=at,
                action=action,
                label=str(FLOW_ACTION_LABELS.get(action, action)),
                flow_id=flow_id,
                flow_name=flow.name if flow else "",
                step=labels.get(flow_id, {}).get(step_id, "") if step_id else "",
                # An email's line has the subject as sent (rendered), once it was sent.
                detail=(subject or detail) if action == "sent" else detail,
                message_id=message_id,
                message_status=str(OutboxStatus(status).label) if status else "",
                contact_time=at.astimezone(zone) if zone else None,
            )
        )
    return lines


def flow_lines_for_page(
    contact_id: int, page: Page, events: list[TimelineEntry], zone: ZoneInfo | None
) -> list[FlowTimelineEntry]:
    """The flow lines that belong between the events of one page of the timeline.

    A page holds the lines from its oldest event (the very beginning on the last page) up
    to, not including, the oldest event of the page before (now, on the first page); so
    each line shows on exactly one page, among the events of its time.
    """
    since = events[-1].at if events and page.has_next() else None
    until = None
    if page.number > 1:
        # The oldest event of the page before: one row read by its position.
        events_so_far = cast("QuerySet[Event]", page.paginator.object_list)
        until = events_so_far.values_list("occurred_at", flat=True)[page.start_index() - 2]
    return flow_timeline(contact_id, zone, since=since, until=until)


def merged_timeline(
    events: list[TimelineEntry], flow_lines: list[FlowTimelineEntry]
) -> list[TimelineEntry | FlowTimelineEntry]:
    """Events and flow lines together, newest first (each list is newest first already);
    at the same moment, what a flow did comes after (so above) the event that started it."""
    merged: list[TimelineEntry | FlowTimelineEntry] = [*flow_lines, *events]
    merged.sort(key=lambda entry: entry.at, reverse=True)  # stable: ties keep their order
    return merged
