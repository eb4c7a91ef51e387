"""Runs over time by final state, on the runs page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kflow.dashboard.pages.chart import buckets, chart

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def ended(kind: str, hours_ago: float, end_time: bool = True) -> dict[str, Any]:
    stamp = (END - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status: dict[str, Any] = {"state": {"type": kind, "timestamp": stamp}}
    if end_time:
        status["endTime"] = stamp
    return {"metadata": {"name": "r"}, "status": status}


def test_runs_are_counted_in_the_slice_where_they_ended() -> None:
    runs = [
        ended("COMPLETED", 0.5),
        ended("FAILED", 0.2, end_time=False),  # its state's time stands in for endTime
        ended("COMPLETED", 23.5),
        ended("CRASHED", 23.9),
        ended("CANCELLED", 25),  # before the period
        ended("RUNNING", 1),  # not final
        ended("COMPLETED", -1),  # after the end (clock skew)
    ]
    slices = buckets(runs, END, DAY)
    assert len(slices) == 24
    assert slices[-1] == {"COMPLETED": 1, "FAILED": 1}
    assert slices[0] == {"COMPLETED": 1, "CRASHED": 1}
    assert sum(sum(s.values()) for s in slices) == 4


def test_the_chart_is_svg_with_one_rect_per_state_and_slice() -> None:
    markup = chart(buckets([ended("COMPLETED", 1), ended("FAILED", 1)], END, DAY), END, DAY)
    assert markup.count("<rect ") == 2
    assert 'data-ended="2"' in markup and "2 runs ended in the last 24 hours" in markup
    assert "No run ended in the last 7 days." in chart(buckets([], END, 7 * DAY), END, 7 * DAY)
