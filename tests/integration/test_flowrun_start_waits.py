"""Why a Job run did not start, on a real API server (its scheduler and Job controller; no pod
ever runs): an unschedulable pod and a ResourceQuota that forbids the pod show within seconds in
the run's PENDING message, its InfrastructureReady condition and `kflow flow-run inspect`; past
the operator's start deadline the run ends CRASHED with the reason and its Job is removed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.conftest import Cluster, OperatorFactory, wait_until
from tests.integration.test_execute_cli import kflow

pytestmark = pytest.mark.integration

RUN_LABEL = "kflow.dev/flow-run-uid"
IMAGE = "registry.invalid/kflow/never-pulled:1"
"""Never pulled: the pod is never scheduled, or never created."""


def job_run(cluster: Cluster, name: str, pod_spec: dict[str, Any] | None = None) -> None:
    infrastructure: dict[str, Any] = {"type": "kubernetes-job", "image": IMAGE}
    if pod_spec is not None:
        infrastructure["job"] = {"podTemplatePatch": {"spec": pod_spec}}
    cluster.flowrun(name, {"entrypoint": "flows.py:main", "infrastructure": infrastructure})


def ready_condition(run: dict[str, Any]) -> dict[str, Any] | None:
    conditions = (run.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "InfrastructureReady"), None)


def wait_for_wait(cluster: Cluster, name: str, reason: str, timeout: float) -> dict[str, Any]:
    """The run once it says it waits for `reason`."""

    def probe() -> dict[str, Any] | None:
        run = cluster.get_flowrun(name)
        found = ready_condition(run)
        return run if found and found["reason"] == reason else None

    found: dict[str, Any] = wait_until(f"{name} waiting: {reason}", probe, timeout)
    return found


def jobs_left(cluster: Cluster) -> list[Any]:
    batch = client.BatchV1Api(cluster.core.api_client)
    return list(batch.list_namespaced_job(cluster.namespace, label_selector=RUN_LABEL).items)


def test_an_unschedulable_pod_shows_the_schedulers_message_then_crashes_past_the_deadline(
    cluster: Cluster, operators: OperatorFactory, kubeconfig: Path, tmp_path: Path
) -> None:
    operators.start("--start-deadline-seconds", "20")
    job_run(cluster, "r", {"nodeSelector": {"kflow.dev/no-such-node": "anywhere"}})
    created = time.monotonic()
    run = wait_for_wait(cluster, "r", "Unschedulable", timeout=15)
    shown_after = time.monotonic() - created
    state = run["status"]["state"]
    assert state["type"] == "PENDING"
    assert "waits: Unschedulable: 0/" in state["message"], state
    assert "node affinity/selector" in state["message"], state
    condition = ready_condition(run)
    assert condition is not None
    assert (condition["status"], condition["message"]) == ("False", state["message"])

    inspected = kflow("flow-run", "inspect", "r", "-n", cluster.namespace, kubeconfig=kubeconfig,
                      home=tmp_path)  # fmt: skip
    assert inspected.returncode == 0, inspected.stderr
    assert "waits: Unschedulable" in inspected.stdout
    assert "InfrastructureReady" in inspected.stdout

    crashed = cluster.wait_state("r", "CRASHED", timeout=40)
    message = crashed["status"]["state"]["message"]
    assert message.startswith("The flow's infrastructure did not start within 20s"), message
    assert "waits: Unschedulable" in message, message
    wait_until("the run's Job removed", lambda: not jobs_left(cluster), timeout=30)
    history = [h.get("message", "") for h in crashed["status"]["stateHistory"]]
    waits = [m for m in history if "waits: Unschedulable" in m and "did not start" not in m]
    assert len(waits) == 1, f"one PENDING write per reason, not per look: {history}"
    print(f"Unschedulable shown {shown_after:.1f}s after the FlowRun was created")


def test_a_quota_that_forbids_the_pod_shows_in_the_run_then_crashes_past_the_deadline(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    cluster.core.create_namespaced_resource_quota(
        cluster.namespace,
        client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="no-pods"),
            spec=client.V1ResourceQuotaSpec(hard={"pods": "0"}),
        ),
    )
    operators.start("--start-deadline-seconds", "20")
    job_run(cluster, "r")
    run = wait_for_wait(cluster, "r", "FailedCreate", timeout=20)
    message = run["status"]["state"]["message"]
    assert run["status"]["state"]["type"] == "PENDING"
    assert "cannot create its pod" in message, message
    assert "exceeded quota: no-pods" in message, message

    crashed = cluster.wait_state("r", "CRASHED", timeout=40)
    assert "exceeded quota: no-pods" in crashed["status"]["state"]["message"]
    wait_until("the run's Job removed", lambda: not jobs_left(cluster), timeout=30)
