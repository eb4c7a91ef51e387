"""Why a Job run did not start, end to end: a real kubelet and containerd fail to pull an image
from an unreachable registry (a real ErrImagePull), and the run says so within seconds, naming
the image and the pull error; past the start deadline it ends CRASHED and its Job and pod go."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.conftest import kflow_cli
from tests.e2e.launcher_support import finished
from tests.e2e.test_launcher_job import (  # noqa: F401 - fixtures
    JobRuns,
    batch,
    jobs_of,
    leftovers,
    pods_of,
    runs,
)
from tests.integration.conftest import Cluster, OperatorFactory, wait_until

pytestmark = pytest.mark.e2e

MISSING = "registry.invalid/kflow/missing:1"


def ready_condition(run: dict[str, Any]) -> dict[str, Any] | None:
    conditions = (run.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "InfrastructureReady"), None)


def test_a_pod_whose_image_cannot_be_pulled_says_so_then_crashes_past_the_deadline(
    cluster: Cluster,
    operators: OperatorFactory,
    node_cluster: Path,
    batch: client.BatchV1Api,  # noqa: F811 - the imported fixture
    runs: JobRuns,  # noqa: F811 - the imported fixture
) -> None:
    operators.start("--start-deadline-seconds", "30")
    runs.start(
        "adds", {"a": 1, "b": 2}, image=MISSING, infrastructure={"imagePullPolicy": "IfNotPresent"}
    )
    created = time.monotonic()

    def waiting() -> dict[str, Any] | None:
        run = cluster.get_flowrun("r")
        found = ready_condition(run)
        return run if found and found["status"] == "False" else None

    run = wait_until("the run says why it waits", waiting, timeout=25)
    shown_after = time.monotonic() - created
    state = run["status"]["state"]
    message = state["message"]
    assert state["type"] == "PENDING", state
    pod = pods_of(cluster)[0].metadata.name
    assert message.startswith(f"pod {pod} waits: "), message
    assert ready_condition(run)["reason"] in ("ErrImagePull", "ImagePullBackOff")  # type: ignore[index]
    assert MISSING in message, message
    assert "registry.invalid" in message and "no such host" in message, (
        f"the pull error's own words: {message}"
    )

    inspected = kflow_cli("flow-run", "inspect", "r", "-n", cluster.namespace)
    assert inspected.returncode == 0, inspected.stderr
    assert MISSING in inspected.stdout and "InfrastructureReady" in inspected.stdout

    no_logs = kflow_cli("flow-run", "logs", "r", "-n", cluster.namespace)
    assert no_logs.returncode == 1
    assert f'has no logs yet: container "flow" in pod "{pod}" is waiting to start' in (
        no_logs.stderr
    ), no_logs.stderr
    assert "Traceback" not in no_logs.stderr

    crashed = cluster.wait_state("r", "CRASHED", timeout=60)
    final = crashed["status"]["state"]["message"]
    assert final.startswith("The flow's infrastructure did not start within 30s"), final
    assert MISSING in final, final
    finished(cluster, "r")
    wait_until(
        "the run's Job and pod removed",
        lambda: not jobs_of(cluster, batch) and not pods_of(cluster),
        timeout=30,
    )
    print(f"the pull error shown {shown_after:.1f}s after the FlowRun was created")


def test_logs_follow_started_with_the_run_waits_for_its_pod_then_follows_it_to_the_end(
    cluster: Cluster,
    operators: OperatorFactory,
    node_cluster: Path,
    runs: JobRuns,  # noqa: F811 - the imported fixture
) -> None:
    operators.start()
    runs.deploy("sleeps")
    due = datetime.now(UTC) + timedelta(seconds=5)  # certainly not started when -f begins
    cluster.flowrun(
        "r",
        {
            "deploymentRef": {"name": "d"},
            "parameters": {"seconds": 3},
            "scheduledTime": due.isoformat(),
        },
    )
    followed = kflow_cli("flow-run", "logs", "-f", "r", "-n", cluster.namespace, timeout=90)
    assert followed.returncode == 0, followed.stderr
    assert "sleeping 3.0s" in followed.stdout, followed.stdout
    assert "Finished in state Completed" in followed.stdout, followed.stdout
    assert "waiting for FlowRun r to start" in followed.stderr, followed.stderr
    assert cluster.state("r") == "COMPLETED"


def test_a_pod_stuck_creating_its_container_says_why_from_its_events_then_crashes(
    cluster: Cluster,
    operators: OperatorFactory,
    node_cluster: Path,
    batch: client.BatchV1Api,  # noqa: F811 - the imported fixture
    runs: JobRuns,  # noqa: F811 - the imported fixture
) -> None:
    """ContainerCreating is a pod's ordinary way to running, until it lasts: a volume from a
    ConfigMap that does not exist keeps it there, and only the pod's FailedMount Events say
    so."""
    operators.start("--start-deadline-seconds", "50")
    patch = {
        "spec": {
            "volumes": [{"name": "settings", "configMap": {"name": "no-such-config"}}],
            "containers": [
                {"name": "flow", "volumeMounts": [{"name": "settings", "mountPath": "/settings"}]}
            ],
        }
    }
    runs.start("adds", {"a": 1, "b": 2}, infrastructure={"job": {"podTemplatePatch": patch}})

    def waiting() -> dict[str, Any] | None:
        run = cluster.get_flowrun("r")
        found = ready_condition(run)
        return run if found and found["reason"] == "FailedMount" else None

    run = wait_until("the run says its pod cannot mount a volume", waiting, timeout=45)
    message = run["status"]["state"]["message"]
    assert run["status"]["state"]["type"] == "PENDING"
    assert 'configmap "no-such-config" not found' in message, message

    crashed = cluster.wait_state("r", "CRASHED", timeout=40)
    assert "FailedMount" in crashed["status"]["state"]["message"]
    finished(cluster, "r")
    wait_until(
        "the run's Job and pod removed",
        lambda: not jobs_of(cluster, batch) and not pods_of(cluster),
        timeout=30,
    )


def test_a_wait_that_clears_up_lets_the_run_go_on_and_says_the_wait_is_over(
    cluster: Cluster,
    operators: OperatorFactory,
    node_cluster: Path,
    runs: JobRuns,  # noqa: F811 - the imported fixture
) -> None:
    """A quota forbids the pod; once it is lifted the Job controller creates the pod, the flow
    runs to COMPLETED, and InfrastructureReady turns True (one write each way)."""
    cluster.core.create_namespaced_resource_quota(
        cluster.namespace,
        client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="no-pods"),
            spec=client.V1ResourceQuotaSpec(hard={"pods": "0"}),
        ),
    )
    operators.start()
    runs.start("adds", {"a": 1, "b": 2})

    def waiting() -> dict[str, Any] | None:
        run = cluster.get_flowrun("r")
        found = ready_condition(run)
        return run if found and found["reason"] == "FailedCreate" else None

    run = wait_until("the run says the quota forbids its pod", waiting, timeout=30)
    assert "exceeded quota: no-pods" in run["status"]["state"]["message"]
    cluster.core.delete_namespaced_resource_quota("no-pods", cluster.namespace)

    completed = cluster.wait_state("r", "COMPLETED", timeout=120)
    ready = ready_condition(completed)
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("True", "WaitOver")
    history = [(h["type"], h.get("message", "")) for h in completed["status"]["stateHistory"]]
    pending = [message for kind, message in history if kind == "PENDING"]
    assert len(pending) == 2 and "exceeded quota" in pending[1], history
    assert [kind for kind, _ in history][-2:] == ["RUNNING", "COMPLETED"], history
