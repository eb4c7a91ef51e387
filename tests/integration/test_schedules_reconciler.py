"""Schedules on a real API server with a real clock: runs appear ahead and start on time,
pausing stops them, a schedule change replaces unstarted runs, history is pruned."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.conftest import Cluster, OperatorFactory, OperatorProcess, wait_until
from tests.integration.schedules_support import (
    PROCESS_ONLY,
    get_deployment,
    launch_time,
    names,
    parse,
    patch_deployment,
    runs_of,
    scheduled_time,
    shell_schedule_deployment,
    started,
    state_of,
    utcnow,
    wait_started_count,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def scheduler(operators: OperatorFactory) -> OperatorProcess:
    return operators.start(*PROCESS_ONLY)


INTERVAL = 3


def test_upcoming_runs_exist_ahead_and_start_on_time(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    shell_schedule_deployment(
        cluster, "every3s", "exit 0", [{"interval": INTERVAL}], upcomingRuns=2
    )

    def two_upcoming() -> list[dict[str, object]] | None:
        upcoming = [r for r in runs_of(cluster, "every3s") if scheduled_time(r) > utcnow()]
        return upcoming if len(upcoming) == 2 else None

    upcoming = wait_until("two upcoming scheduled runs", two_upcoming, timeout=20)
    for run in upcoming:
        assert scheduled_time(run).timestamp() % INTERVAL == 0  # aligned to the epoch
        assert run["metadata"]["name"].startswith("every3s-")
    printed = cluster.kubectl.run("get", "fr")
    assert all(name in printed for name in names(upcoming))

    runs = wait_started_count(cluster, "every3s", 3, timeout=30)
    # On time: never early, and each before its successor is due (no coarse poll). The
    # latency figures (p50/p99 under load) are bench/schedule_accuracy.py's to measure.
    for run in runs[:3]:
        delay = (launch_time(run) - scheduled_time(run)).total_seconds()
        assert 0 <= delay < INTERVAL, f"{run['metadata']['name']} launched {delay:.3f}s late"
    times = [scheduled_time(r) for r in runs]
    assert len(set(times)) == len(times), "one run per scheduled time"

    status = get_deployment(cluster, "every3s")["status"]
    assert parse(status["nextScheduleTime"]) > parse(status["lastScheduleTime"])
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert ready["status"] == "True"
    assert status["scheduleSummary"] == "every 3s"


def test_pausing_stops_new_runs_and_resuming_restarts_them(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    shell_schedule_deployment(cluster, "p", "exit 0", [{"interval": 2}], upcomingRuns=3)
    wait_started_count(cluster, "p", 1, timeout=20)
    patch_deployment(cluster, "p", {"paused": True})
    paused_at = utcnow()

    def previews_gone() -> bool:
        unstarted = [r for r in runs_of(cluster, "p") if state_of(r)[0] in (None, "SCHEDULED")]
        return not unstarted

    wait_until("unstarted runs removed on pause", previews_gone, timeout=10)
    started_before = len([r for r in runs_of(cluster, "p") if started(r)])
    time.sleep(5)  # an observation window of two and a half intervals, not synchronisation
    assert len([r for r in runs_of(cluster, "p") if started(r)]) == started_before
    status = get_deployment(cluster, "p")["status"]
    assert status.get("nextScheduleTime") is None
    assert {c["type"]: c for c in status["conditions"]}["Scheduling"]["reason"] == "Paused"

    patch_deployment(cluster, "p", {"paused": False})
    resumed_at = utcnow()
    wait_started_count(cluster, "p", started_before + 1, timeout=20)
    fell_while_paused = [
        r for r in runs_of(cluster, "p") if paused_at < scheduled_time(r) < resumed_at
    ]
    for run in fell_while_paused:
        # At most a run that fell due while the pause was being applied: skipped, visibly.
        assert not started(run), "runs that fell while paused are neither run nor caught up"
        assert state_of(run) == ("CANCELLED", "Skipped")
        assert "paused" in run["status"]["state"]["message"]


def test_changing_the_schedule_replaces_unstarted_runs(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    shell_schedule_deployment(cluster, "c", "exit 0", [{"interval": 3600}], upcomingRuns=3)
    wait_until("three hourly runs", lambda: len(runs_of(cluster, "c")) == 3, timeout=20)
    hourly = set(names(runs_of(cluster, "c")))

    patch_deployment(
        cluster, "c", {"schedules": [{"interval": 7200, "anchorTime": "2026-01-01T00:30:00Z"}]}
    )

    def replaced() -> list[dict[str, object]] | None:
        runs = runs_of(cluster, "c")
        return runs if len(runs) == 3 and not hourly & set(names(runs)) else None

    runs = wait_until("hourly runs replaced by two-hourly ones", replaced, timeout=20)
    for run in runs:
        assert scheduled_time(run).minute == 30
        assert state_of(run)[0] in (None, "SCHEDULED")


def test_invalid_cron_is_reported_in_conditions(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    shell_schedule_deployment(
        cluster, "bad", "exit 0", [{"cron": "0 9 * * *", "timezone": "Mars/Olympus"}]
    )

    def scheduling_false() -> dict[str, object] | None:
        status = get_deployment(cluster, "bad").get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        found = conditions.get("Scheduling")
        return found if found and found["status"] == "False" else None

    condition = wait_until("Scheduling=False", scheduling_false, timeout=20)
    assert condition["reason"] == "InvalidSchedule"
    assert "spec.schedules[0].timezone" in str(condition["message"])
    assert "Mars/Olympus" in str(condition["message"])
    assert runs_of(cluster, "bad") == []


def test_history_limits_prune_the_oldest_finished_runs(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    # Each run exits without reporting a final state: CRASHED, a failed run for the history.
    shell_schedule_deployment(
        cluster, "h", "exit 0", [{"interval": 1}], upcomingRuns=1, failedRunsHistoryLimit=2
    )
    seen: set[str] = set()

    def crashed() -> list[dict[str, Any]]:
        return [r for r in runs_of(cluster, "h") if state_of(r)[0] == "CRASHED"]

    def six_crashed_so_far() -> bool:
        seen.update(names(crashed()))
        return len(seen) >= 6

    wait_until("six runs crashed", six_crashed_so_far, timeout=60)
    patch_deployment(cluster, "h", {"paused": True})

    def settled() -> list[dict[str, Any]] | None:
        runs = runs_of(cluster, "h")
        finished = all(state_of(r)[0] in ("CRASHED", "CANCELLED") for r in runs)
        return runs if finished and len(runs) == 2 else None

    # Crashed runs and any run skipped by the pause count against failedRunsHistoryLimit=2.
    kept = names(wait_until("history pruned to the limit", settled, timeout=30))
    deleted = seen - set(kept)
    assert len(deleted) >= 4
    # Names carry the scheduled time: everything deleted is older than everything kept.
    assert max(deleted) < min(kept)
