"""Exactly once across operator downtime and with two operators at once.

The operator is SIGKILLed for several intervals and a new one started: what runs is exactly
what the catch-up policy says, each scheduled time has at most one run, and runs that do not
start end visibly (CANCELLED `Skipped`, after `Late`).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from kflow_operator.decisions.deployment_runs import DEFAULT_ON_TIME_TOLERANCE

from tests.integration.conftest import Cluster, OperatorFactory, wait_until
from tests.integration.schedules_support import (
    PROCESS_ONLY,
    runs_of,
    scheduled_time,
    shell_schedule_deployment,
    started,
    state_of,
    utcnow,
    wait_started_count,
)

pytestmark = pytest.mark.integration

# One operator at a time here. The restarted one gets the higher peering priority, so it acts
# at once instead of waiting out the killed one's peering record (a peering matter).
FIRST = (*PROCESS_ONLY, "--priority", "1")
RESTARTED = (*PROCESS_ONLY, "--priority", "2")

INTERVAL = 6
DOWNTIME = 21  # three and a half intervals


def assert_one_run_per_time(runs: list[dict[str, Any]]) -> None:
    per_time = Counter(r["spec"]["scheduledTime"] for r in runs)
    assert max(per_time.values(), default=0) == 1, per_time
    for run in runs:
        history = (run.get("status") or {}).get("stateHistory") or []
        launches = [e for e in history if e["type"] == "PENDING"]
        assert len(launches) <= 1, f"{run['metadata']['name']} launched {len(launches)} times"


def settled(cluster: Cluster, name: str, after: datetime) -> list[dict[str, Any]]:
    """Wait until the operator has scheduled past `after` (a run due later exists) and every
    run due by then has left SCHEDULED; return all runs."""

    def probe() -> list[dict[str, Any]] | None:
        runs = runs_of(cluster, name)
        if not any(scheduled_time(r) > after for r in runs):
            return None
        pending = [
            r for r in runs if scheduled_time(r) <= after and state_of(r)[0] in (None, "SCHEDULED")
        ]
        return None if pending else runs

    try:
        found: list[dict[str, Any]] = wait_until("due runs decided", probe, timeout=60)
    except TimeoutError as error:
        states = {
            r["metadata"]["name"]: (r["spec"].get("scheduledTime"), state_of(r))
            for r in runs_of(cluster, name)
        }
        raise AssertionError(f"{error}; runs: {states}") from error
    return found


@pytest.mark.parametrize("catchup", ["None", "Latest", "All"])
def test_restart_after_downtime_does_what_catchup_says_and_nothing_twice(
    cluster: Cluster, operators: OperatorFactory, catchup: str
) -> None:
    shell_schedule_deployment(
        cluster,
        "nightly",
        "exit 0",
        [{"interval": INTERVAL}],
        upcomingRuns=1,
        catchup=catchup,
        failedRunsHistoryLimit=100,
    )
    first = operators.start(*FIRST)
    wait_started_count(cluster, "nightly", 1, timeout=3 * INTERVAL)
    first.sigkill()
    killed_at = utcnow()
    time.sleep(DOWNTIME)  # the downtime itself, not synchronisation
    restarted_at = utcnow()
    operators.start(*RESTARTED)
    ready_at = utcnow()
    runs = settled(cluster, "nightly", ready_at + timedelta(seconds=INTERVAL))

    # Fire times certainly missed: due before the new operator existed, by more than the
    # tolerance that counts as on time.
    missed_before = restarted_at - DEFAULT_ON_TIME_TOLERANCE - timedelta(seconds=1)
    missed = [r for r in runs if killed_at < scheduled_time(r) < missed_before]
    missed_started = [r for r in missed if started(r)]
    fire_times_missed = int((missed_before - killed_at).total_seconds() // INTERVAL)

    if catchup == "None":
        assert missed_started == []
    elif catchup == "Latest":
        assert len(missed_started) <= 1
    else:
        assert len(missed_started) == len(missed) >= fire_times_missed - 1
        assert len(missed) >= 2
    for run in missed:
        if not started(run):
            assert state_of(run) == ("CANCELLED", "Skipped")
            names = [e["name"] for e in run["status"]["stateHistory"]]
            assert names[-2:] == ["Late", "Skipped"]
            assert f"catchup={catchup}" in run["status"]["state"]["message"]
    assert_one_run_per_time(runs)
    # Normal service resumed: the runs after the restart start.
    assert any(started(r) for r in runs if scheduled_time(r) > ready_at)


def test_catchup_none_announces_the_runs_it_never_created(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    shell_schedule_deployment(
        cluster, "quiet", "exit 0", [{"interval": 2}], upcomingRuns=1, catchup="None"
    )
    first = operators.start(*FIRST)
    wait_started_count(cluster, "quiet", 1, timeout=10)
    first.sigkill()
    time.sleep(12)  # downtime: six intervals
    operators.start(*RESTARTED)

    def missed_event() -> Any:
        return [e for e in cluster.events("quiet") if e.reason == "MissedRuns"]

    (event, *_) = wait_until("a MissedRuns event on the Deployment", missed_event, timeout=20)
    assert event.type == "Warning"
    assert "catchup=None" in event.message
    assert_one_run_per_time(runs_of(cluster, "quiet"))


def test_two_operators_at_once_create_and_start_each_run_once(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operators.start(*PROCESS_ONLY)
    operators.start(*PROCESS_ONLY)
    shell_schedule_deployment(
        cluster, "busy", "exit 0", [{"interval": 1}], upcomingRuns=3, failedRunsHistoryLimit=100
    )
    runs = wait_started_count(cluster, "busy", 8, timeout=30)
    runs = settled(cluster, "busy", max(scheduled_time(r) for r in runs))
    assert_one_run_per_time(runs)
    for run in runs:
        if started(run):
            assert run["status"]["infrastructure"]["attempt"] == 1
