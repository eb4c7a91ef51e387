"""The operator SIGKILLed at any point loses nothing and launches nothing twice: processes it
started are re-adopted by PID plus start time, pending cancellations keep their deadline."""

from __future__ import annotations

import os
import signal
from datetime import datetime
from pathlib import Path

import pytest

from tests.integration.conftest import (
    Cluster,
    OperatorFactory,
    process_alive,
    recorded_process,
    wait_until,
)
from tests.integration.test_flowrun_cancel import IGNORES_SIGTERM, started
from tests.integration.test_flowrun_lifecycle import shell_deployment

pytestmark = pytest.mark.integration


def test_a_run_outlives_its_operator_and_is_watched_by_the_next(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    shell_deployment(cluster, "d", "exec sleep 60")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    first = operators.start()
    run = cluster.wait_state("r", "PENDING")
    pid, ticks = recorded_process(run)
    first.sigkill()
    assert process_alive(pid, ticks), "the run survives its operator"
    operators.start()
    os.kill(pid, signal.SIGKILL)
    run = cluster.wait_state("r", "CRASHED", timeout=10)
    assert (
        "SIGKILL" in run["status"]["state"]["message"]
        or "gone" in run["status"]["state"]["message"]
    )
    assert run["status"]["infrastructure"]["id"] == f"{pid}@{ticks}"
    assert run["status"]["infrastructure"]["attempt"] == 1


def test_a_run_that_ended_while_no_operator_ran_is_crashed_on_restart(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    shell_deployment(cluster, "d", "exec sleep 60")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    first = operators.start()
    pid, ticks = recorded_process(cluster.wait_state("r", "PENDING"))
    first.sigkill()
    os.kill(pid, signal.SIGKILL)
    wait_until("the orphan to end", lambda: not process_alive(pid, ticks))
    operators.start()
    run = cluster.wait_state("r", "CRASHED", timeout=10)
    assert run["status"]["infrastructure"]["attempt"] == 1


def test_a_pending_cancellation_keeps_its_deadline_across_a_restart(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    # Long enough for a new operator to be up (a few seconds on a loaded machine) before the
    # deadline, which it must then meet.
    shell_deployment(cluster, "d", IGNORES_SIGTERM, cancelGracePeriodSeconds=15)
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    first = operators.start()
    pid, ticks = started(cluster, "r")
    cluster.cancel("r")
    wait_until(
        "SIGTERM sent",
        lambda: "stopTime" in (cluster.get_flowrun("r")["status"].get("cancellation") or {}),
    )
    first.sigkill()
    operators.start()
    run = cluster.wait_state("r", "CANCELLED", timeout=30)
    steps = run["status"]["cancellation"]
    deadline = datetime.fromisoformat(steps["killDeadline"])
    killed = datetime.fromisoformat(steps["killTime"])
    assert 0 <= (killed - deadline).total_seconds() < 1
    assert not process_alive(pid, ticks)


def test_killing_the_operator_while_launching_never_runs_a_flow_twice(
    cluster: Cluster, operators: OperatorFactory, tmp_path: Path
) -> None:
    """Each run appends one line to its own file and exits 3 (→ CRASHED). The operator is
    killed while it is launching a burst of runs; after a restart every run has run once."""
    marks = tmp_path / "marks"
    marks.mkdir()
    shell_deployment(
        cluster,
        "d",
        f'echo ran >> {marks}/"$KFLOW_FLOW_RUN_NAME"; exit 3',
        # Every run must stay to be checked: history pruning (10 failed runs by default) would
        # delete the earliest CRASHED ones while the test is still looking at the others.
        failedRunsHistoryLimit=100,
    )
    first = operators.start()
    names = [f"r{i}" for i in range(30)]
    for name in names:
        cluster.flowrun(name, {"deploymentRef": {"name": "d"}})
    wait_until("some launches", lambda: len(list(marks.iterdir())) >= 3)
    first.sigkill()
    operators.start()
    for name in names:
        cluster.wait_state(name, "CRASHED", timeout=60)
    for name in names:
        assert (marks / name).read_text() == "ran\n", f"{name} ran more or less than once"


def test_two_operators_never_both_launch_a_run(
    cluster: Cluster, operators: OperatorFactory, tmp_path: Path
) -> None:
    """Peering: only the replica with the highest priority acts; every run starts once."""
    marks = tmp_path / "marks"
    marks.mkdir()
    shell_deployment(
        cluster,
        "d",
        f'echo ran >> {marks}/"$KFLOW_FLOW_RUN_NAME"; exit 3',
        # Every run must stay to be checked: history pruning (10 failed runs by default) would
        # delete the earliest CRASHED ones while the test is still looking at the others.
        failedRunsHistoryLimit=100,
    )
    operators.start("--priority", "10")
    operators.start("--priority", "20")
    names = [f"r{i}" for i in range(20)]
    for name in names:
        cluster.flowrun(name, {"deploymentRef": {"name": "d"}})
    for name in names:
        cluster.wait_state(name, "CRASHED", timeout=60)
    for name in names:
        assert (marks / name).read_text() == "ran\n", f"{name} ran more or less than once"


def test_a_run_deleted_while_no_operator_ran_takes_its_process_along(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    shell_deployment(cluster, "d", "exec sleep 60")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    first = operators.start()
    pid, ticks = recorded_process(cluster.wait_state("r", "PENDING"))
    first.sigkill()
    cluster.kubectl.run("delete", "flowrun", "r", "--wait=false")
    operators.start()
    wait_until("the process to be stopped", lambda: not process_alive(pid, ticks), timeout=30)
    wait_until(
        "the FlowRun to be gone",
        lambda: cluster.kubectl.run("get", "fr", "-o", "name").strip() == "",
        timeout=30,
    )
