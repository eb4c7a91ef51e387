"""Runs over time by final state: a stacked bar chart drawn on the server as SVG (no
charting library, nothing for the browser to run), one bar per slice of the period, each
run counted in the slice where it ended."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from kflow.dashboard.markup import Markup, html, join
from kflow.dashboard.queries import state_type
from kflow.resources.common import parse_timestamp

FINAL_STATES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
BARS = 24
WIDTH, HEIGHT, GAP = 720, 90, 2


def ended_at(run: Mapping[str, Any]) -> datetime | None:
    """When a run reached its final state (its endTime, else its state's time)."""
    if state_type(run) not in FINAL_STATES:
        return None
    status = run.get("status") or {}
    stamp = status.get("endTime") or (status.get("state") or {}).get("timestamp")
    return parse_timestamp(str(stamp)) if stamp else None


def buckets(
    runs: Iterable[Mapping[str, Any]], end: datetime, span: timedelta, count: int = BARS
) -> list[Counter[str]]:
    """Final states per slice of (end - span, end], oldest slice first."""
    start = end - span
    size = span / count
    slices: list[Counter[str]] = [Counter() for _ in range(count)]
    for run in runs:
        moment = ended_at(run)
        if moment is None or not start < moment <= end:
            continue
        index = min(count - 1, int((moment - start) / size))
        slices[index][state_type(run)] += 1
    return slices


def chart(slices: Sequence[Counter[str]], end: datetime, span: timedelta) -> Markup:
    tallest = max((sum(s.values()) for s in slices), default=0)
    if tallest == 0:
        return html('<p class="empty chart-empty">No run ended in the last $s.</p>', s=_words(span))
    width = WIDTH / len(slices)
    bars = []
    for index, counts in enumerate(slices):
        top = float(HEIGHT)
        for state in FINAL_STATES:
            if not counts[state]:
                continue
            height = HEIGHT * counts[state] / tallest
            top -= height
            bars.append(
                html(
                    '<rect class="bar-$cls" x="$x" y="$y" width="$w" height="$h">'
                    "<title>$n $state</title></rect>",
                    cls=state.lower(),
                    x=f"{index * width:.1f}",
                    y=f"{top:.1f}",
                    w=f"{width - GAP:.1f}",
                    h=f"{height:.1f}",
                    n=counts[state],
                    state=state.lower(),
                )
            )
    total = sum(sum(s.values()) for s in slices)
    return html(
        '<figure class="chart" data-ended="$total"><svg viewBox="0 0 $w $h" role="img" '
        'aria-label="$label" preserveAspectRatio="none">$bars</svg>'
        "<figcaption>$label · tallest bar $tallest</figcaption></figure>",
        total=total,
        w=WIDTH,
        h=HEIGHT,
        label=f"{total} runs ended in the last {_words(span)}, by final state",
        bars=join(bars),
        tallest=tallest,
    )


def _words(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    if hours >= 1 and hours == int(hours):
        return f"{int(hours)} hours" if hours != 1 else "hour"
    return f"{int(span.total_seconds() // 60)} minutes"
