"""The operator's side of a run's life, observed through the FlowRun: launch, PENDING with the
identifier, CRASHED when the infrastructure ends early, FAILED for a missing Deployment, and
Events telling the story. These runs replace `kflow execute` with small shell commands."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    Cluster,
    OperatorProcess,
    process_alive,
    recorded_process,
    wait_until,
)

pytestmark = pytest.mark.integration


def shell_deployment(cluster: Cluster, name: str, script: str, **spec: Any) -> None:
    cluster.deployment(
        name,
        {
            "entrypoint": "flows.py:main",
            "infrastructure": {"type": "process", "command": ["/bin/sh", "-c", script]},
            **spec,
        },
    )


def test_infrastructure_exiting_without_a_final_state_is_crashed_with_its_exit_code(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    shell_deployment(cluster, "d", "echo hello from the run; exit 3")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "CRASHED")
    status = run["status"]
    assert "exited with code 3" in status["state"]["message"]
    assert status["infrastructure"]["exitCode"] == 3
    assert [entry["type"] for entry in status["stateHistory"]] == ["PENDING", "CRASHED"]
    assert status["endTime"] == status["state"]["timestamp"]
    log = Path(status["infrastructure"]["logPath"]).read_text()
    assert "hello from the run" in log
    wait_until(
        "Finished condition and finalizer removed",
        lambda: not cluster.get_flowrun("r")["metadata"].get("finalizers"),
    )
    wait_until(
        "Events for both states",
        lambda: (
            {("Normal", "Pending"), ("Warning", "Crashed")}
            <= {(e.type, e.reason) for e in cluster.events("r")}
        ),
    )


def test_pending_records_where_the_run_lives(cluster: Cluster, operator: OperatorProcess) -> None:
    shell_deployment(cluster, "d", "exec sleep 30")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "PENDING")
    infra = run["status"]["infrastructure"]
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert infra["type"] == "process"
    assert infra["scope"] == f"{os.uname().nodename}/{boot_id}"
    assert infra["pid"] == f"{infra['scope']}:{infra['id']}"
    assert infra["attempt"] == 1
    pid, ticks = recorded_process(run)
    assert process_alive(pid, ticks)
    printed = cluster.kubectl.run("get", "fr", "r", "-o", "wide")
    assert "Pending" in printed and "process" in printed and infra["pid"] in printed


def test_sigkilled_flow_process_is_crashed_within_seconds(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    shell_deployment(cluster, "d", "exec sleep 60")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "PENDING")
    pid, _ = recorded_process(run)
    wait_until("the run's command to be running", lambda: _comm(pid) == "sleep")
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    run = cluster.wait_state("r", "CRASHED", timeout=10)
    noticed = time.monotonic() - killed_at
    assert "killed by SIGKILL" in run["status"]["state"]["message"]
    assert run["status"]["infrastructure"]["signal"] == "SIGKILL"
    assert noticed < 2.0, f"CRASHED {noticed:.2f}s after the kill"


def test_flowrun_naming_a_missing_deployment_fails_with_the_reason(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    cluster.flowrun("r", {"deploymentRef": {"name": "nowhere"}})
    run = cluster.wait_state("r", "FAILED")
    assert "Deployment 'nowhere' not found" in run["status"]["state"]["message"]
    assert "infrastructure" not in run["status"]
    wait_until("a Failed event", lambda: [e.reason for e in cluster.events("r")] == ["Failed"])


def test_missing_working_directory_fails_the_run(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    cluster.deployment(
        "d",
        {
            "entrypoint": "flows.py:main",
            "infrastructure": {
                "type": "process",
                "process": {"workingDirectory": "/no/such/dir"},
            },
        },
    )
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "FAILED")
    assert "workingDirectory '/no/such/dir' is not a directory" in run["status"]["state"]["message"]


def test_a_run_scheduled_later_starts_at_its_time(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    shell_deployment(cluster, "d", "exit 0")
    due = datetime.now(UTC) + timedelta(seconds=3)
    cluster.flowrun(
        "r",
        {"deploymentRef": {"name": "d"}, "scheduledTime": due.isoformat().replace("+00:00", "Z")},
    )
    time.sleep(1)  # an observation window: nothing may happen before the scheduled time
    assert "infrastructure" not in (cluster.get_flowrun("r").get("status") or {})
    run = cluster.wait_state("r", "PENDING", "CRASHED", timeout=10)
    launched = datetime.fromisoformat(run["status"]["infrastructure"]["launchTime"])
    assert due <= launched < due + timedelta(seconds=1)


def test_the_run_gets_its_env_and_working_directory(
    cluster: Cluster, operator: OperatorProcess, tmp_path: Path
) -> None:
    cluster.deployment(
        "d",
        {
            "entrypoint": "flows.py:main",
            "infrastructure": {
                "type": "process",
                "env": {"GREETING": "hi"},
                "process": {"workingDirectory": str(tmp_path)},
                "command": [
                    "/bin/sh",
                    "-c",
                    'echo "$GREETING $KFLOW_FLOW_RUN_NAMESPACE/$KFLOW_FLOW_RUN_NAME $PWD"; exit 5',
                ],
            },
        },
    )
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "CRASHED")
    log = Path(run["status"]["infrastructure"]["logPath"]).read_text()
    assert f"hi {cluster.namespace}/r {tmp_path}" in log


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
