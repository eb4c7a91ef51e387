"""Cancellation as design.md §5a, observed from outside: a patch of spec.cancel, the run's states,
the times of each step in status.cancellation, and whether the process really is gone."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    Cluster,
    OperatorFactory,
    OperatorProcess,
    process_alive,
    recorded_process,
    wait_until,
)
from tests.integration.test_flowrun_lifecycle import shell_deployment

pytestmark = pytest.mark.integration

HANDLES_SIGTERM = (
    "trap 'echo stopping politely; exit 0' TERM; echo ready; while :; do sleep 0.05; done"
)
IGNORES_SIGTERM = "trap '' TERM; echo ready; while :; do sleep 0.05; done"


def started(cluster: Cluster, name: str) -> tuple[int, int]:
    """Wait until the run's script has set up its signal handling; its PID and start ticks."""
    run = cluster.wait_state(name, "PENDING")
    log = Path(run["status"]["infrastructure"]["logPath"])
    wait_until("the script to be ready", lambda: log.exists() and "ready" in log.read_text())
    return recorded_process(run)


def times(run: dict[str, Any]) -> dict[str, datetime]:
    return {
        key: datetime.fromisoformat(value)
        for key, value in run["status"]["cancellation"].items()
        if key.endswith(("Time", "Deadline"))
    }


def test_cancel_before_start_never_starts_the_run(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    shell_deployment(cluster, "d", "exit 0")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "scheduledTime": "2099-01-01T00:00:00Z"})
    # Not yet due: SCHEDULED from the start (a cancel before the operator sees the run goes
    # straight to CANCELLED: test_flowrun_scheduled.py).
    scheduled = cluster.wait_state("r", "SCHEDULED", timeout=5)
    assert scheduled["status"]["state"]["message"] == "Scheduled for 2099-01-01T00:00:00Z."
    cluster.cancel("r")
    run = cluster.wait_state("r", "CANCELLED")
    assert run["status"]["state"]["message"] == "Cancelled before it started."
    assert "infrastructure" not in run["status"]
    assert [entry["type"] for entry in run["status"]["stateHistory"]] == ["SCHEDULED", "CANCELLED"]
    assert "Launched" not in {c["type"] for c in run["status"].get("conditions") or []}


def test_cancel_of_a_run_that_handles_sigterm(cluster: Cluster, operator: OperatorProcess) -> None:
    shell_deployment(cluster, "d", HANDLES_SIGTERM, cancelGracePeriodSeconds=30)
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    pid, ticks = started(cluster, "r")
    cluster.cancel("r")
    run = cluster.wait_state("r", "CANCELLED", timeout=10)
    steps = times(run)
    assert run["status"]["cancellation"]["gracePeriodSeconds"] == 30
    assert steps["requestedTime"] <= steps["stopTime"] <= steps["goneTime"]
    assert "killTime" not in steps, "a process that stops on SIGTERM is never killed"
    assert (steps["goneTime"] - steps["stopTime"]).total_seconds() < 2
    assert run["status"]["infrastructure"]["exitCode"] == 0
    assert not process_alive(pid, ticks)
    types = [entry["type"] for entry in run["status"]["stateHistory"]]
    assert types == ["PENDING", "CANCELLING", "CANCELLED"]


def test_cancel_of_a_run_ignoring_sigterm_kills_it_after_the_grace_period(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    shell_deployment(cluster, "d", IGNORES_SIGTERM, cancelGracePeriodSeconds=30)
    # The FlowRun's own grace period wins over the Deployment's.
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "cancelGracePeriodSeconds": 2})
    pid, ticks = started(cluster, "r")
    cluster.cancel("r")
    cluster.wait_state("r", "CANCELLING")
    run = cluster.wait_state("r", "CANCELLED", timeout=10)
    steps = times(run)
    assert run["status"]["cancellation"]["gracePeriodSeconds"] == 2
    grace = (steps["killTime"] - steps["stopTime"]).total_seconds()
    assert 1.9 <= grace <= 3.0, f"killed {grace:.2f}s after SIGTERM, grace period 2s"
    assert steps["killDeadline"] <= steps["killTime"]
    assert (steps["killTime"] - steps["killDeadline"]).total_seconds() < 1
    assert run["status"]["infrastructure"]["signal"] == "SIGKILL"
    assert not process_alive(pid, ticks)
    assert not process_alive(pid), "the whole process group is killed"
    wait_until(
        "StopSent and Killed events",
        lambda: (
            {"StopSent", "Killed", "Cancelling", "Cancelled"}
            <= {e.reason for e in cluster.events("r")}
        ),
    )


def test_cancel_without_an_identifier_is_reported_not_enforced(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    """A run some other party started (no identifier recorded): CANCELLED, and CancelFailed
    says it could not be enforced."""
    cluster.flowrun("r", {"entrypoint": "flows.py:main", "infrastructure": {"type": "process"}})
    cluster.patch_flowrun_status(
        "r",
        {"state": {"type": "RUNNING", "name": "Running", "timestamp": "2026-01-01T00:00:00Z"}},
    )
    cluster.cancel("r")
    operators.start()
    run = cluster.wait_state("r", "CANCELLED")
    assert "could not be enforced" in run["status"]["state"]["message"]
    (failed,) = [c for c in run["status"]["conditions"] if c["type"] == "CancelFailed"]
    assert failed["status"] == "True"
    assert failed["reason"] == "NoInfrastructureIdentifier"


def test_foreign_scope_is_never_touched(cluster: Cluster, operators: OperatorFactory) -> None:
    """Runs recorded in another host's scope are left to that host's operator, even when the
    PID exists here (it is someone else's process) or is missing here."""
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        stat = Path(f"/proc/{bystander.pid}/stat").read_text()
        ticks = stat[stat.rindex(")") + 2 :].split()[19]
        for name, ident in (("alive", f"{bystander.pid}@{ticks}"), ("missing", "999999@1")):
            cluster.flowrun(
                name, {"entrypoint": "flows.py:main", "infrastructure": {"type": "process"}}
            )
            cluster.patch_flowrun_status(
                name,
                {
                    "state": {
                        "type": "RUNNING",
                        "name": "Running",
                        "timestamp": "2026-01-01T00:00:00Z",
                    },
                    "infrastructure": {
                        "type": "process",
                        "scope": "elsewhere/0000",
                        "id": ident,
                        "pid": f"elsewhere/0000:{ident}",
                    },
                },
            )
        cluster.cancel("alive")
        # A control run in our own scope proves the operator is acting on cancellations.
        shell_deployment(cluster, "d", HANDLES_SIGTERM)
        cluster.flowrun("ours", {"deploymentRef": {"name": "d"}})
        operators.start()
        cluster.wait_state("ours", "PENDING")
        cluster.cancel("ours")
        cluster.wait_state("ours", "CANCELLED", timeout=10)
        assert cluster.state("alive") == "RUNNING"
        assert cluster.state("missing") == "RUNNING"
        assert bystander.poll() is None, "another scope's PID was signalled"
    finally:
        bystander.kill()
        bystander.wait()


def test_deleting_a_running_flowrun_stops_its_process(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    shell_deployment(cluster, "d", HANDLES_SIGTERM)
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    pid, ticks = started(cluster, "r")
    cluster.kubectl.run("delete", "flowrun", "r", "--wait=true", "--timeout=30s")
    assert not process_alive(pid, ticks)
