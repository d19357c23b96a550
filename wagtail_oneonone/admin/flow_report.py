"""What a flow page shows: its trigger, entry, re-entry and goal in words; its steps in
order with how many contacts are at each and what each sent; totals, exits by reason,
enrollments per day and the latest enrollments.

Read-only queries, a fixed handful per page whatever the number of steps or contacts.
The listing and the contact timeline use the words and the step labels too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDay
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..events.types import label_for
from ..flows.blocks import UNIT_SECONDS, WEEKDAY_CHOICES
from ..flows.content import FLOW_SOURCE, NOTIFY_SOURCE, step_source_id
from ..models import Enrollment, EnrollmentStatus, Flow, OutboxMessage, OutboxStatus, Segment
from ..models.flows import DateField, EngagementChange, Reentry, TriggerType
from .campaign_report import filled_buckets
from .segment_chart import CountChart, chart_summary, count_chart
from .segment_words import filters_in_words, rules_in_words

#: The latest enrollments listed on the flow page.
LATEST_ENROLLMENTS = 50
#: Exit reasons listed (the most frequent first).
MAX_EXIT_REASONS = 20
#: Days the "enrollments over time" chart reaches back.
CHART_DAYS = 365

#: "When someone …" for the built-in event types; others read "When “Label” happens".
EVENT_PHRASES: dict[str, str] = {
    "page_viewed": "views a page",
    "product_viewed": "views a product",
    "cart_updated": "updates their cart",
    "checkout_started": "starts checkout",
    "order_placed": "places an order",
    "signed_up": "signs up",
    "email_opened": "opens an email",
    "email_clicked": "clicks a link in an email",
    "email_replied": "replies to an email",
}
DATE_PHRASES: dict[str, str] = {
    DateField.BIRTHDAY: "their birthday",
    DateField.CUSTOMER_SINCE: "the anniversary of their first order",
    DateField.SIGNED_UP: "the anniversary of their sign-up",
}
ENGAGEMENT_PHRASES: dict[str, str] = {
    EngagementChange.BECAME_DORMANT: "When someone becomes dormant",
    EngagementChange.BECAME_ACTIVE: "When someone becomes active again",
}
#: The steps that put a message in the outbox, with the source their rows carry.
SENDING_STEPS = {"send_email": FLOW_SOURCE, "notify": NOTIFY_SOURCE}


# Words -----------------------------------------------------------------------------------


def _time(value: dt.time | None) -> str:
    return value.strftime("%H:%M") if value else ""


def _segment_name(segment: Segment | None) -> str:
    return segment.name if segment is not None else _("(no segment chosen)")


def event_phrase(event_type: str) -> str:
    """``When someone updates their cart``."""
    if not event_type:
        return _("When someone does something (no event chosen)")
    if event_type in EVENT_PHRASES:
        return _("When someone %(does)s") % {"does": _(EVENT_PHRASES[event_type])}
    return _("When “%(event)s” happens") % {"event": label_for(event_type)}


def trigger_in_words(flow: Flow) -> str:
    """ "When someone updates their cart", "On their birthday at 10:00", ..."""
    kind = flow.trigger_type
    if kind == TriggerType.EVENT:
        text = event_phrase(flow.trigger_event_type) + filters_in_words(flow.trigger_filters)
        if flow.trigger_count > 1:
            text += ngettext(", %(n)s time", ", %(n)s times", flow.trigger_count) % {
                "n": flow.trigger_count
            }
            if flow.trigger_window_hours:
                text += ngettext(
                    " within %(n)s hour", " within %(n)s hours", flow.trigger_window_hours
                ) % {"n": flow.trigger_window_hours}
        return text
    if kind == TriggerType.SEGMENT_ENTERED:
        return _("When someone enters %(segment)s") % {
            "segment": _segment_name(flow.trigger_segment)
        }
    if kind == TriggerType.DATE:
        if flow.trigger_date_field == DateField.ATTRIBUTE:
            what = _("their “%(name)s” date") % {"name": flow.trigger_attribute or "?"}
        else:
            what = _(DATE_PHRASES.get(flow.trigger_date_field, "a date (none chosen)"))
        days = flow.trigger_days_before or 0
        if days:
            text = ngettext("%(n)s day before %(what)s", "%(n)s days before %(what)s", days) % {
                "n": days,
                "what": what,
            }
        else:
            text = _("On %(what)s") % {"what": what}
        if flow.trigger_time:
            text += _(" at %(time)s") % {"time": _time(flow.trigger_time)}
        return text
    if kind == TriggerType.ENGAGEMENT:
        phrase = ENGAGEMENT_PHRASES.get(flow.trigger_engagement)
        return _(phrase) if phrase else _("When someone's engagement changes (none chosen)")
    return str(kind)


def entry_in_words(flow: Flow) -> str:
    if flow.entry_segment is None:
        return _("Everyone the trigger finds")
    return _("Only contacts in %(segment)s") % {"segment": flow.entry_segment.name}


def reentry_in_words(flow: Flow) -> str:
    if flow.reentry == Reentry.EVERY_N_DAYS:
        days = flow.reentry_days or 0
        return ngettext(
            "Again, %(n)s day after they last entered",
            "Again, %(n)s days after they last entered",
            days,
        ) % {"n": days}
    if flow.reentry == Reentry.EVERY_TIME:
        return _("Every time it is triggered")
    return _("Once ever")


def goal_in_words(flow: Flow) -> str:
    goals = []
    if flow.goal_event_type:
        goals.append(
            _("they %(event)s%(filters)s after entering")
            % {
                "event": label_for(flow.goal_event_type).lower(),
                "filters": filters_in_words(flow.goal_filters),
            }
        )
    if flow.goal_left_segment is not None:
        goals.append(_("they leave %(segment)s") % {"segment": flow.goal_left_segment.name})
    if not goals:
        return _("No goal: contacts go through every step")
    return _("Reached when %(goals)s") % {"goals": _(" or ").join(goals)}


# Steps -----------------------------------------------------------------------------------


def _kind_labels() -> dict[str, str]:
    stream_block = Flow._meta.get_field("steps").stream_block  # type: ignore[union-attr]
    return {
        name: str(block.meta.label or name) for name, block in stream_block.child_blocks.items()
    }


def duration_in_words(seconds: int) -> str:
    """In the largest unit that is whole: 120 minutes are "2 hours", 90 are "90 minutes"."""
    if seconds and seconds % 86400 == 0:
        days = seconds // 86400
        return ngettext("%(n)s day", "%(n)s days", days) % {"n": days}
    if seconds and seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(n)s hour", "%(n)s hours", hours) % {"n": hours}
    minutes = seconds // 60
    return ngettext("%(n)s minute", "%(n)s minutes", minutes) % {"n": minutes}


def wait_in_words(value: Any) -> str:
    seconds = int(value.get("amount") or 0) * UNIT_SECONDS.get(value.get("unit") or "hours", 3600)
    until = value.get("until")
    parts = []
    if seconds:
        parts.append(duration_in_words(seconds))
    if until is not None:
        days = dict(WEEKDAY_CHOICES)
        weekdays = [str(days[day]) for day in value.get("weekdays") or [] if day in days]
        when = _("until %(time)s on their clock") % {"time": _time(until)}
        if weekdays:
            when += _(" on %(days)s") % {"days": ", ".join(weekdays)}
        parts.append(when)
    return _(", then ").join(parts) if parts else _("no time")


def condition_in_words(condition: Any) -> str:
    """A branch's condition: a segment, rules or an event since entering."""
    children = list(condition or [])
    if not children:
        return _("(no condition)")
    child = children[0]
    if child.block_type == "segment":
        value = str(child.value)
        name = Segment.objects.filter(pk=int(value) if value.isdigit() else 0).values_list(
            "name", flat=True
        )
        return _("in %(segment)s") % {"segment": name.first() or _("a deleted segment")}
    if child.block_type == "rules":
        try:
            return rules_in_words(json.loads(child.value))
        except (TypeError, ValueError):
            return _("(rules that cannot be read)")
    if child.block_type == "event_since_entry":
        return _("%(event)s since entering") % {"event": label_for(child.value["event_type"])}
    return str(child.block_type)


def step_summary(kind: str, value: Any) -> str:
    """One line about a step's settings."""
    if kind == "wait":
        return wait_in_words(value)
    if kind == "send_email":
        return f"“{value.get('subject') or ''}”"
    if kind == "branch":
        return _("%(label)s: yes if %(condition)s") % {
            "label": value.get("label") or "",
            "condition": condition_in_words(value.get("condition")),
        }
    if kind == "update_contact":
        action = value.get("action")
        if action == "set_attribute":
            return _("set %(name)s to “%(value)s”") % {
                "name": value.get("name"),
                "value": value.get("value") or "",
            }
        if action == "add_tag":
            return _("add the tag %(name)s") % {"name": value.get("name")}
        return _("remove the tag %(name)s") % {"name": value.get("name")}
    if kind == "notify":
        return _("tell %(to)s") % {"to": value.get("to")}
    if kind == "end":
        return _("the contact leaves the flow here")
    return ""


@dataclass
class StepRow:
    """One step of the outline, numbered in reading order; ``side`` is a branch side."""

    number: int
    step_id: str
    kind: str
    kind_label: str
    summary: str
    depth: int = 0
    side: str = ""  # "yes" or "no" for the first step of a branch side
    active: int = 0
    source_type: str = ""
    source_id: str = ""
    sent: dict[str, int] = field(default_factory=dict)

    @property
    def sends(self) -> bool:
        return bool(self.source_type)

    @property
    def label(self) -> str:
        return _("Step %(n)s: %(kind)s") % {"n": self.number, "kind": self.kind_label}


def _walk(steps: Iterable[Any], depth: int = 0) -> Iterator[tuple[Any, int, str]]:
    for child in steps:
        yield child, depth, ""
        if child.block_type == "branch":
            for side in ("yes", "no"):
                inner = list(child.value.get(side) or [])
                if not inner:
                    yield None, depth + 1, side  # an empty side: straight on
                for index, (grandchild, inner_depth, _side) in enumerate(_walk(inner, depth + 1)):
                    yield grandchild, inner_depth, side if index == 0 else ""


def step_outline(flow: Flow, *, summaries: bool = True) -> list[StepRow]:
    """Every step, branch sides indented under their branch, without counts.

    Summaries of branches on a segment read its name (a query each): leave them out where
    only the labels are wanted.
    """
    labels = _kind_labels()
    rows: list[StepRow] = []
    number = 0
    for child, depth, side in _walk(flow.steps):
        if child is None:
            rows.append(
                StepRow(0, "", "", "", _("nothing: straight on after the branch"), depth, side)
            )
            continue
        number += 1
        kind = child.block_type
        rows.append(
            StepRow(
                number=number,
                step_id=str(child.id),
                kind=kind,
                kind_label=labels.get(kind, kind),
                summary=step_summary(kind, child.value) if summaries else "",
                depth=depth,
                side=side,
                source_type=SENDING_STEPS.get(kind, ""),
                source_id=step_source_id(flow.pk, str(child.id)) if kind in SENDING_STEPS else "",
            )
        )
    return rows


def step_labels(flow: Flow) -> dict[str, str]:
    """``{step id: "Step 2: Send an email"}`` for the steps a flow has now (no queries)."""
    return {row.step_id: row.label for row in step_outline(flow, summaries=False) if row.step_id}


@dataclass(frozen=True)
class StepCounts:
    rows: list[StepRow]
    not_started: int  # entered, first step not run yet
    removed: int  # at a step the flow no longer has


def step_counts(flow: Flow) -> StepCounts:
    """The outline with the active enrollments at each step and each sending step's messages
    by outcome: two queries."""
    rows = step_outline(flow)
    active = dict(
        Enrollment.objects.filter(flow=flow, status=EnrollmentStatus.ACTIVE)
        .order_by()
        .values("step_id")
        .annotate(n=Count("pk"))
        .values_list("step_id", "n")
    )
    by_source: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    sources = {(row.source_type, row.source_id) for row in rows if row.sends}
    if sources:
        messages = (
            OutboxMessage.objects.filter(
                source_type__in={source_type for source_type, _id in sources},
                source_id__in={source_id for _type, source_id in sources},
            )
            .order_by()
            .values("source_type", "source_id", "status")
            .annotate(n=Count("pk"))
            .values_list("source_type", "source_id", "status", "n")
        )
        for source_type, source_id, status, n in messages:
            by_source[(source_type, source_id)][status] = n
    known = set()
    for row in rows:
        known.add(row.step_id)
        row.active = active.get(row.step_id, 0) if row.step_id else 0
        if row.sends:
            counts = by_source.get((row.source_type, row.source_id), {})
            row.sent = {
                "sent": counts.get(OutboxStatus.SENT, 0),
                "queued": counts.get(OutboxStatus.QUEUED, 0) + counts.get(OutboxStatus.CLAIMED, 0),
                "skipped": counts.get(OutboxStatus.SKIPPED, 0),
                "failed": counts.get(OutboxStatus.FAILED, 0),
                "unknown": counts.get(OutboxStatus.UNKNOWN, 0),
            }
    removed = sum(n for step_id, n in active.items() if step_id and step_id not in known)
    return StepCounts(rows=rows, not_started=active.get("", 0), removed=removed)


# Totals, exits, over time, latest --------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    entered: int
    active: int
    completed: int
    goal: int
    exited: int


def flow_totals(flow: Flow) -> Totals:
    def status(value: str) -> Count:
        return Count("pk", filter=Q(status=value))

    counts = Enrollment.objects.filter(flow=flow).aggregate(
        entered=Count("pk"),
        active=status(EnrollmentStatus.ACTIVE),
        completed=status(EnrollmentStatus.COMPLETED),
        goal=status(EnrollmentStatus.GOAL),
        exited=status(EnrollmentStatus.EXITED),
    )
    return Totals(**{key: value or 0 for key, value in counts.items()})


def exit_reasons(flow: Flow) -> list[tuple[str, int]]:
    """Who left early, grouped by why, the most frequent first."""
    rows = (
        Enrollment.objects.filter(flow=flow, status=EnrollmentStatus.EXITED)
        .order_by()
        .values("exit_reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "exit_reason")
        .values_list("exit_reason", "n")[:MAX_EXIT_REASONS]
    )
    return [(reason or _("(no reason recorded)"), n) for reason, n in rows]


@dataclass(frozen=True)
class EnrolledOverTime:
    counts: list[tuple[dt.datetime, int]]
    chart: CountChart | None

    @property
    def total(self) -> int:
        return sum(count for _day, count in self.counts)

    def summary(self) -> str:
        if self.chart is None:
            return ""
        return _("Contacts entering per day. %(chart)s") % {"chart": chart_summary(self.chart)}


def enrolled_over_time(flow: Flow, *, now: dt.datetime | None = None) -> EnrolledOverTime:
    """Contacts entering per day (in the admin's zone), the last year at most."""
    now = now or timezone.now()
    zone = timezone.get_current_timezone()
    rows = (
        Enrollment.objects.filter(flow=flow, entered_at__gte=now - dt.timedelta(days=CHART_DAYS))
        .order_by()
        .annotate(day=TruncDay("entered_at", tzinfo=zone))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    found = {day: n for day, n in rows}
    if not found:
        return EnrolledOverTime(counts=[], chart=None)
    counts = filled_buckets(sorted(found), found, dt.timedelta(days=1), zone, by_day=True)
    return EnrolledOverTime(counts=counts, chart=count_chart(counts))


def latest_enrollments(flow: Flow, limit: int = LATEST_ENROLLMENTS) -> QuerySet[Enrollment]:
    return (
        Enrollment.objects.filter(flow=flow)
        .select_related("contact")
        .only(
            "id",
            "status",
            "step_id",
            "waiting",
            "next_run_at",
            "entered_at",
            "finished_at",
            "exit_reason",
            "contact__id",
            "contact__email",
            "contact__first_name",
            "contact__last_name",
        )
        .order_by("-entered_at", "-pk")[:limit]
    )


def listing_counts(queryset: QuerySet[Flow]) -> QuerySet[Flow]:
    """Flows annotated with their active enrollments and those that reached the goal."""
    return queryset.annotate(
        active_count=Count("enrollments", filter=Q(enrollments__status=EnrollmentStatus.ACTIVE)),
        goal_count=Count("enrollments", filter=Q(enrollments__status=EnrollmentStatus.GOAL)),
    )
