"""concurrencyPolicy Forbid / Replace and concurrencyLimit on a real API server."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.conftest import Cluster, OperatorFactory, OperatorProcess, wait_until
from tests.integration.schedules_support import (
    PROCESS_ONLY,
    launch_time,
    names,
    runs_of,
    scheduled_time,
    shell_schedule_deployment,
    started,
    state_of,
    wait_started_count,
)

pytestmark = pytest.mark.integration

ACTIVE = {"PENDING", "RUNNING", "PAUSED", "CANCELLING"}


@pytest.fixture
def scheduler(operators: OperatorFactory) -> OperatorProcess:
    return operators.start(*PROCESS_ONLY)


def active(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if state_of(r)[0] in ACTIVE]


def test_forbid_skips_runs_while_one_is_active(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    shell_schedule_deployment(
        cluster, "f", "exec sleep 60", [{"interval": 2}], concurrencyPolicy="Forbid"
    )

    def two_skipped() -> list[dict[str, Any]] | None:
        runs = runs_of(cluster, "f")
        skipped = [r for r in runs if state_of(r) == ("CANCELLED", "Skipped")]
        return runs if len(skipped) >= 2 else None

    runs = wait_until("two runs skipped under Forbid", two_skipped, timeout=30)
    assert len([r for r in runs if started(r)]) == 1
    (running,) = active(runs)
    for run in runs:
        if state_of(run) == ("CANCELLED", "Skipped"):
            message = run["status"]["state"]["message"]
            assert "concurrencyPolicy=Forbid" in message
            assert running["metadata"]["name"] in message


def test_replace_cancels_the_running_run_for_the_new_one(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    shell_schedule_deployment(
        cluster,
        "r",
        "exec sleep 60",
        [{"interval": 3}],
        concurrencyPolicy="Replace",
        cancelGracePeriodSeconds=1,
    )
    runs = wait_started_count(cluster, "r", 3, timeout=30)
    first, second = runs[0], runs[1]

    def replaced() -> bool:
        return all(
            state_of(cluster.get_flowrun(r["metadata"]["name"]))[0] == "CANCELLED"
            for r in (first, second)
        )

    wait_until("the replaced runs end CANCELLED", replaced, timeout=20)
    for run in (first, second):
        assert cluster.get_flowrun(run["metadata"]["name"])["spec"]["cancel"] is True
    for run in (first, second):
        name: str = run["metadata"]["name"]

        def replaced_events(name: str = name) -> list[Any]:
            return [e for e in cluster.events(name) if e.reason == "Replaced"]

        reasons = wait_until(
            f"{name} has a Replaced event (posted beside the cancellation, not before it)",
            replaced_events,
            timeout=20,
        )
        assert "concurrencyPolicy=Replace" in reasons[0].message


def test_concurrency_limit_queues_runs_and_starts_them_in_order(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    shell_schedule_deployment(
        cluster,
        "q",
        "sleep 3",
        [{"interval": 1}],
        concurrencyLimit=2,
        failedRunsHistoryLimit=100,
    )
    most_active = 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # bounded observation: never more than the limit
        most_active = max(most_active, len(active(runs_of(cluster, "q"))))
        assert most_active <= 2
        time.sleep(0.1)
    assert most_active == 2

    runs = runs_of(cluster, "q")
    waited = [
        r
        for r in runs
        if started(r)
        and any(e["name"] == "AwaitingConcurrencySlot" for e in r["status"]["stateHistory"])
    ]
    assert waited, "some runs waited for a slot and then started"
    launched = sorted((r for r in runs if started(r)), key=launch_time)
    assert names(launched) == names(sorted(launched, key=scheduled_time)), "scheduled order"


def test_runs_started_by_hand_count_and_are_never_relabelled(
    cluster: Cluster, scheduler: OperatorProcess
) -> None:
    shell_schedule_deployment(cluster, "manual", "exec sleep 60", [], concurrencyPolicy="Forbid")
    cluster.flowrun("by-hand-1", {"deploymentRef": {"name": "manual"}})
    cluster.wait_state("by-hand-1", "PENDING")
    cluster.flowrun("by-hand-2", {"deploymentRef": {"name": "manual"}})
    second = cluster.wait_state("by-hand-2", "CANCELLED")
    assert second["status"]["state"]["name"] == "Skipped"
    assert "by-hand-1" in second["status"]["state"]["message"]
    first = cluster.get_flowrun("by-hand-1")
    assert "labels" not in first["metadata"]
    history = first["status"]["stateHistory"]
    assert [e["type"] for e in history] == ["PENDING"]
