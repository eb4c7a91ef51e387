"""Whole runs: the operator launches `kflow execute`, the flow reports, the operator watches and
enforces cancellation. What a user sees on the FlowRun is what is asserted."""

from __future__ import annotations

import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    FLOWS,
    Cluster,
    OperatorProcess,
    process_alive,
    recorded_process,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    path = tmp_path / "marks"
    path.mkdir()
    return path


def deploy(cluster: Cluster, marks: Path, name: str, entrypoint: str, **spec: Any) -> None:
    cluster.deployment(
        name,
        {
            "entrypoint": entrypoint,
            "infrastructure": {
                "type": "process",
                "env": {"TEST_MARKS": str(marks), "KFLOW_HOME": str(marks.parent / "home")},
                "process": {"workingDirectory": str(FLOWS)},
            },
            **spec,
        },
    )


def history(run: dict[str, Any]) -> list[str]:
    return [entry["type"] for entry in run["status"]["stateHistory"]]


def output(run: dict[str, Any]) -> str:
    return Path(run["status"]["infrastructure"]["logPath"]).read_text(errors="replace")


def test_a_run_completes_with_its_result(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "d", "flows.py:sums", parameters={"n": 2, "label": "from-deployment"})
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "parameters": {"n": 5}})
    run = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=60)
    status = run["status"]
    assert status["state"]["type"] == "COMPLETED", output(run)
    assert status["result"]["value"] == {"total": 20, "label": "from-deployment"}
    assert history(run) == ["PENDING", "RUNNING", "COMPLETED"]
    assert status["taskRuns"]["counts"]["COMPLETED"] == 5
    assert status["runName"]
    assert status["runCount"] == 1
    wait_until(
        "exit code and Finished",
        lambda: cluster.get_flowrun("r")["status"]["infrastructure"].get("exitCode") == 0,
    )
    wait_until(
        "one Event per state",
        lambda: {"Pending", "Running", "Completed"} <= {e.reason for e in cluster.events("r")},
    )
    assert "Finished in state Completed()" in output(run)


def test_a_failing_flow_fails(cluster: Cluster, operator: OperatorProcess, marks: Path) -> None:
    deploy(cluster, marks, "d", "flows.py:fails")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "FAILED", "COMPLETED", "CRASHED", timeout=60)
    assert run["status"]["state"]["type"] == "FAILED", output(run)
    assert "the flow broke on purpose" in run["status"]["state"]["message"]
    assert history(run) == ["PENDING", "RUNNING", "FAILED"]


def test_invalid_parameters_fail_without_ever_running(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "d", "flows.py:sums")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "parameters": {"n": "many"}})
    run = cluster.wait_state("r", "FAILED", "COMPLETED", "CRASHED", timeout=60)
    assert run["status"]["state"]["type"] == "FAILED", output(run)
    assert history(run) == ["PENDING", "FAILED"]
    assert "n" in run["status"]["state"]["message"]


def test_cancel_runs_the_flows_on_cancellation_hooks(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "d", "flows.py:waits")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "RUNNING", timeout=60)
    pid, ticks = recorded_process(run)
    wait_until("the flow to start", lambda: (marks / "started").exists())
    cluster.cancel("r")
    run = cluster.wait_state("r", "CANCELLED", timeout=30)
    assert not process_alive(pid, ticks), "CANCELLED only once the flow's process is gone"
    assert (marks / "on_cancellation").exists(), output(run)
    assert not (marks / "on_crashed").exists(), output(run)
    assert "killTime" not in run["status"]["cancellation"]
    assert "goneTime" in run["status"]["cancellation"], "the operator saw the process end"
    assert history(run)[-2:] == ["CANCELLING", "CANCELLED"]


def test_a_flow_sigtermed_without_a_cancel_request_is_crashed(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    """A SIGTERM nobody asked for as a cancellation (an outside kill, a shutdown)."""
    deploy(cluster, marks, "d", "flows.py:waits")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "RUNNING", timeout=60)
    pid, _ = recorded_process(run)
    wait_until("the flow to start", lambda: (marks / "started").exists())
    os.kill(pid, signal.SIGTERM)
    run = cluster.wait_state("r", "CRASHED", "CANCELLED", timeout=15)
    assert run["status"]["state"]["type"] == "CRASHED", run["status"]["state"]
    message = run["status"]["state"]["message"]
    assert "terminated by SIGTERM without a cancellation request" in message, message
    assert (marks / "on_crashed").exists(), output(run)
    assert not (marks / "on_cancellation").exists(), output(run)


def test_cancel_kills_a_flow_ignoring_sigterm_after_the_grace_period(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "d", "flows.py:stubborn", cancelGracePeriodSeconds=3)
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "RUNNING", timeout=60)
    pid, ticks = recorded_process(run)
    wait_until("the flow to start", lambda: (marks / "started").exists())
    cluster.cancel("r")
    run = cluster.wait_state("r", "CANCELLED", timeout=30)
    assert "killTime" in run["status"]["cancellation"], (run["status"], output(run))
    steps = {
        k: datetime.fromisoformat(v)
        for k, v in run["status"]["cancellation"].items()
        if k.endswith(("Time", "Deadline"))
    }
    waited = (steps["killTime"] - steps["stopTime"]).total_seconds()
    assert 2.9 <= waited <= 4.0, f"SIGKILL {waited:.2f}s after SIGTERM with a 3s grace period"
    assert run["status"]["infrastructure"]["signal"] == "SIGKILL"
    assert not process_alive(pid, ticks)


def test_a_sigkilled_flow_is_crashed(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "d", "flows.py:waits")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "RUNNING", timeout=60)
    pid, _ = recorded_process(run)
    os.kill(pid, signal.SIGKILL)
    run = cluster.wait_state("r", "CRASHED", timeout=10)
    assert "killed by SIGKILL" in run["status"]["state"]["message"]


def test_a_suspended_run_is_launched_again_on_resume(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "d", "flows.py:suspends")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "PAUSED", "FAILED", "CRASHED", timeout=60)
    assert run["status"]["state"]["name"] == "Suspended", output(run)
    pid, ticks = recorded_process(run)
    wait_until("the suspended process to exit", lambda: not process_alive(pid, ticks))
    assert cluster.wait_state("r", "PAUSED")["status"]["state"]["name"] == "Suspended", "no crash"
    cluster.patch_flowrun("r", {"paused": False})
    run = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=60)
    assert run["status"]["state"]["type"] == "COMPLETED", output(run)
    assert run["status"]["infrastructure"]["attempt"] == 2
    assert run["status"]["result"]["value"] == ["first", "second"]
    assert (marks / "ran-first").read_text() == "x", "the persisted task result is reused"
    assert (marks / "ran-second").read_text() == "x"
