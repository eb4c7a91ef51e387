"""Which runs the dashboard's runs and home pages show: filters, counts, order, pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kflow.dashboard.queries import (
    QueryError,
    RunFilter,
    count_by_state,
    failed_since,
    is_late,
    latest_state_first,
    page_number,
    paginate,
    select_runs,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    name: str,
    state: str | None = "COMPLETED",
    *,
    minute: int = 0,
    deployment: str = "d",
    tags: list[str] | None = None,
    namespace: str = "ns",
    **status: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": stamp(NOW + timedelta(minutes=minute)),
        },
        "spec": {"deploymentRef": {"name": deployment}, "tags": tags or []},
        "status": dict(status),
    }
    if state:
        obj["status"]["state"] = {"type": state, "name": state.title(), **status.pop("s", {})}
    return obj


def names(items: Any) -> list[str]:
    return [i["metadata"]["name"] for i in items]


def test_filter_from_the_url_validates_state_types() -> None:
    f = RunFilter.from_query({"state": "failed,CRASHED", "deployment": " d ", "tag": "t"})
    assert f.states == {"FAILED", "CRASHED"} and f.deployment == "d" and f.tag == "t"
    with pytest.raises(QueryError, match="BROKEN is not a state type; use SCHEDULED, PENDING"):
        RunFilter.from_query({"state": "broken"})


def test_filters_by_state_deployment_tag_and_namespace() -> None:
    runs = [
        run("a", "FAILED", deployment="x", tags=["nightly"]),
        run("b", "COMPLETED", deployment="x"),
        run("c", "FAILED", deployment="y", tags=["nightly"], namespace="other"),
    ]
    assert names(r for r in runs if RunFilter(states=frozenset({"FAILED"})).matches(r)) == [
        "a",
        "c",
    ]
    assert names(r for r in runs if RunFilter(deployment="x").matches(r)) == ["a", "b"]
    assert names(r for r in runs if RunFilter(tag="nightly").matches(r)) == ["a", "c"]
    assert names(r for r in runs if RunFilter(namespace="other").matches(r)) == ["c"]


def test_counts_have_every_state_and_runs_without_one() -> None:
    counts = count_by_state([run("a", "FAILED"), run("b", None), run("c", "FAILED")])
    assert list(counts)[:3] == ["SCHEDULED", "PENDING", "RUNNING"]
    assert counts["FAILED"] == 2 and counts["COMPLETED"] == 0 and counts["NONE"] == 1
    assert "NONE" not in count_by_state([run("a")])


def test_select_newest_first_with_counts_ignoring_the_state_filter() -> None:
    runs = [run(f"r{i}", "FAILED" if i % 2 else "COMPLETED", minute=i) for i in range(7)]
    runs.append(run("other", "FAILED", minute=99, deployment="z"))
    page, counts = select_runs(runs, RunFilter(states=frozenset({"FAILED"}), deployment="d"), 1, 2)
    assert names(page.items) == ["r5", "r3"]
    assert (page.total, page.pages, page.has_next, page.has_previous) == (3, 2, True, False)
    assert counts["FAILED"] == 3 and counts["COMPLETED"] == 4


def test_pages_are_clamped_and_numbered_from_one() -> None:
    items = [run(f"r{i}") for i in range(5)]
    last = paginate(items, 9, 2)
    assert (last.number, names(last.items), last.first_index) == (3, ["r4"], 5)
    assert paginate([], 1, 2).pages == 1 and paginate([], 1, 2).first_index == 0
    assert page_number(None) == 1 and page_number("4") == 4
    for bad in ("0", "-1", "two"):
        with pytest.raises(QueryError):
            page_number(bad)


def test_late_runs_are_scheduled_ones_named_late_or_past_due() -> None:
    due = {"scheduledTime": stamp(NOW - timedelta(minutes=5))}
    late = run("a", "SCHEDULED")
    late["spec"].update(due)
    named = run("b", "SCHEDULED", minute=10)
    named["status"]["state"]["name"] = "Late"
    upcoming = run("c", "SCHEDULED")
    upcoming["spec"]["scheduledTime"] = stamp(NOW + timedelta(minutes=5))
    running = run("d", "RUNNING")
    running["spec"].update(due)
    assert [is_late(r, NOW) for r in (late, named, upcoming, running)] == [True, True, False, False]


def test_failed_since_takes_failed_and_crashed_runs_by_their_state_time() -> None:
    recent = run("a", "CRASHED", s={"timestamp": stamp(NOW - timedelta(hours=1))})
    old = run("b", "FAILED", s={"timestamp": stamp(NOW - timedelta(hours=30))})
    done = run("c", "COMPLETED", s={"timestamp": stamp(NOW)})
    since = NOW - timedelta(hours=24)
    assert [failed_since(r, since) for r in (recent, old, done)] == [True, False, False]


def test_failed_runs_are_listed_by_when_they_failed_not_when_they_were_created() -> None:
    # Created in the same second, so creation order (and then the name) cannot tell them apart.
    crashed = run("a-crashed", "CRASHED", s={"timestamp": stamp(NOW)})
    failed = run("z-failed", "FAILED", s={"timestamp": stamp(NOW - timedelta(hours=2))})
    later_created = run("m-failed", "FAILED", minute=5, s={"timestamp": "2026-03-01T11:30:00.5Z"})
    assert names(latest_state_first([failed, later_created, crashed])) == [
        "a-crashed",
        "m-failed",
        "z-failed",
    ]


def test_since_keeps_runs_created_within_the_period() -> None:
    runs = [run("old", minute=-120), run("new", minute=-30)]
    f = RunFilter.from_query({"since": "1h"}, NOW)
    assert [r["metadata"]["name"] for r in runs if f.matches(r)] == ["new"]
    assert f.query()["since"] == "1h"
    assert f.without_states().created_after == f.created_after
    for bad in ("1w", "h", "0h", "-1h", "1.5h"):
        with pytest.raises(QueryError, match="is not a period; use a number and m, h or d"):
            RunFilter.from_query({"since": bad}, NOW)
