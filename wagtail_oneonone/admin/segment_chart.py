"""A segment's count over time as the geometry of an inline SVG line chart (no JS library).

Points are placed by time, not by index, so a week without counts shows as a gap in time;
the template draws the axes, the line and a dot per count with its figure as a tooltip.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import formats, timezone
from django.utils.translation import gettext as _

WIDTH = 720
HEIGHT = 240
MARGIN_LEFT = 56
MARGIN_RIGHT = 20
MARGIN_TOP = 16
MARGIN_BOTTOM = 36
Y_TICKS = 4


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    count: int
    counted_at: dt.datetime


@dataclass(frozen=True)
class ChartTick:
    position: float
    label: str


@dataclass(frozen=True)
class CountChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    points: list[ChartPoint]
    polyline: str
    y_ticks: list[ChartTick]
    first: ChartPoint
    last: ChartPoint
    lowest: int
    highest: int


def nice_ceiling(value: int, ticks: int = Y_TICKS) -> int:
    """The top of the axis: ``ticks`` whole, round steps (1, 2, 2.5, 3, 4, 5, 6 or 8 times 10ⁿ)
    that reach ``value``; at least 1 per step, so small counts get whole-number ticks."""
    if value <= ticks:
        return ticks
    raw = value / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 3, 4, 5, 6, 8, 10):
        step = factor * magnitude
        if step >= raw and step == int(step):
            return int(step) * ticks
    return int(10 * magnitude) * ticks  # pragma: no cover (10 times magnitude always fits)


def count_chart(
    counts: Sequence[tuple[dt.datetime, int]], *, width: int = WIDTH, height: int = HEIGHT
) -> CountChart | None:
    """The chart of ``counts`` (oldest first); None when there is nothing to draw."""
    if not counts:
        return None
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    start, end = counts[0][0], counts[-1][0]
    span = (end - start).total_seconds()
    figures = [count for _when, count in counts]
    ceiling = nice_ceiling(max(figures))

    def x_of(when: dt.datetime) -> float:
        if span <= 0:
            return (left + right) / 2
        return round(left + (when - start).total_seconds() / span * (right - left), 1)

    def y_of(count: int) -> float:
        return round(bottom - count / ceiling * (bottom - top), 1)

    points = [
        ChartPoint(x=x_of(when), y=y_of(count), count=count, counted_at=when)
        for when, count in counts
    ]
    step = ceiling // Y_TICKS
    ticks = [ChartTick(position=y_of(step * n), label=f"{step * n:,}") for n in range(Y_TICKS + 1)]
    return CountChart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        points=points,
        polyline=" ".join(f"{point.x},{point.y}" for point in points),
        y_ticks=ticks,
        first=points[0],
        last=points[-1],
        lowest=min(figures),
        highest=max(figures),
    )


def chart_summary(chart: CountChart) -> str:
    """What the chart shows, for screen readers (the SVG's description)."""
    if len(chart.points) == 1:
        return _("One count: %(count)s.") % {"count": chart.first.count}
    return _(
        "%(n)s counts from %(first)s (%(first_count)s) to %(last)s (%(last_count)s); "
        "lowest %(lowest)s, highest %(highest)s."
    ) % {
        "n": len(chart.points),
        "first": _day(chart.first.counted_at),
        "first_count": chart.first.count,
        "last": _day(chart.last.counted_at),
        "last_count": chart.last.count,
        "lowest": chart.lowest,
        "highest": chart.highest,
    }


def _day(when: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(when), "SHORT_DATE_FORMAT")
