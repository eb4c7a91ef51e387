"""The kubelet dies under running Job runs (SIGKILL) and comes back 15 s later, started the way
`cluster-up` starts it; meanwhile one run's flow process is killed behind its back (from the
host, through containerd), so no kubelet sees it die.

A kubelet of the test's own would need a node of its own, so this test uses the SHARED local
cluster's node, in a namespace of its own with an operator of its own, and keeps the kubelet's
downtime short; the kubelet is started again whatever happens. The runs whose flows kept
sleeping finish COMPLETED; the killed one ends CRASHED with the signal in its message; no run is
lost or started twice, and no Job or pod outlives its FlowRun.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.chaos.conftest import not_ended_once
from tests.cluster import node
from tests.integration.conftest import Cluster, OperatorFactory
from tests.support.waiting import wait_until

pytestmark = pytest.mark.chaos

SLEEPERS = ("sleeper-0", "sleeper-1")
VICTIM = "victim"
RUNS = (*SLEEPERS, VICTIM)
SLEEP_SECONDS = 35
KUBELET_DOWN_SECONDS = 15
RUN_LABEL = "kflow.dev/flow-run-uid"


def name_of(item: client.V1Job | client.V1Pod) -> str:
    return str(item.metadata.name) if item.metadata is not None else "?"


def pod_of(cluster: Cluster, run: str) -> client.V1Pod | None:
    pods = cluster.core.list_namespaced_pod(
        cluster.namespace, label_selector=f"kflow.dev/flow-run-name={run}"
    ).items
    return pods[0] if len(pods) == 1 else None


def sleeping(cluster: Cluster, run: str) -> bool:
    pod = pod_of(cluster, run)
    if cluster.state(run) != "RUNNING" or pod is None:
        return False
    try:
        log = cluster.core.read_namespaced_pod_log(name_of(pod), cluster.namespace)
    except client.ApiException:
        return False
    return "sleeping" in str(log)


def test_job_runs_end_with_the_truth_after_the_kubelet_restarted(
    cluster: Cluster,
    operators: OperatorFactory,
    node_flows_image: str,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> None:
    operator = operators.start()
    batch = client.BatchV1Api(api_client)
    for name in RUNS:
        cluster.flowrun(
            name,
            {
                "entrypoint": "launcher_flows.py:sleeps",
                "parameters": {"seconds": SLEEP_SECONDS},
                "infrastructure": {
                    "type": "kubernetes-job",
                    "image": node_flows_image,
                    "imagePullPolicy": "Never",
                },
            },
        )
    try:
        wait_until(
            "every flow sleeping in its pod",
            lambda: all(sleeping(cluster, name) for name in RUNS),
            timeout=120,
            interval=0.5,
        )
    except TimeoutError as error:
        raise AssertionError(f"{error}\n--- operator:\n{operator.log_tail(6000)}") from error
    before = {name: cluster.get_flowrun(name)["status"]["infrastructure"]["id"] for name in RUNS}
    victim_pod = pod_of(cluster, VICTIM)
    assert victim_pod is not None
    victim_pid = node.container_pid(cluster.namespace, name_of(victim_pod))
    assert victim_pid is not None, "the victim's container has no running task in containerd"

    killed_kubelet = node.kill_kubelet()
    try:
        os.kill(victim_pid, signal.SIGKILL)  # no kubelet sees this happen
        time.sleep(KUBELET_DOWN_SECONDS)  # the fault itself, not synchronisation
    finally:
        node.restart_kubelet()
    up_at = time.monotonic()
    assert operator.alive(), operator.log_tail()

    expected = {**dict.fromkeys(SLEEPERS, "COMPLETED"), VICTIM: "CRASHED"}

    def all_right() -> bool:
        return all(cluster.state(name) == state for name, state in expected.items())

    try:
        wait_until("every run in its expected state", all_right, timeout=120, interval=0.5)
    except TimeoutError as error:
        found = {name: cluster.get_flowrun(name).get("status") for name in RUNS}
        raise AssertionError(
            f"{error}: {found}\n--- operator:\n{operator.log_tail(8000)}"
        ) from error
    recovered = time.monotonic() - up_at

    runs = {name: cluster.get_flowrun(name) for name in RUNS}
    after = {name: run["status"]["infrastructure"]["id"] for name, run in runs.items()}
    assert after == before, "the runs' Jobs were not re-adopted"
    assert not not_ended_once(runs, list(RUNS)), {
        name: runs[name]["status"]["stateHistory"] for name in RUNS
    }
    for name, run in runs.items():
        history = [entry["type"] for entry in run["status"]["stateHistory"]]
        assert history.count("RUNNING") == 1, f"{name} ran twice: {history}"
    for name in SLEEPERS:
        assert runs[name]["status"]["result"]["value"] == "woke up"
    victim_message = runs[VICTIM]["status"]["state"].get("message") or ""
    assert "SIGKILL" in victim_message, victim_message

    jobs = batch.list_namespaced_job(cluster.namespace, label_selector=RUN_LABEL).items
    assert len(jobs) == len(RUNS), [name_of(job) for job in jobs]
    pods = cluster.core.list_namespaced_pod(cluster.namespace, label_selector=RUN_LABEL).items
    assert len(pods) == len(RUNS), [name_of(pod) for pod in pods]

    def pods_settled() -> list[str]:
        """Pods still running, or whose phase contradicts their run's final state."""
        wrong = []
        for name, state in expected.items():
            pod = pod_of(cluster, name)
            phase = pod.status.phase if pod is not None and pod.status is not None else None
            if phase != ("Succeeded" if state == "COMPLETED" else "Failed"):
                wrong.append(f"{name}: pod {phase}")
        return wrong

    wait_until("every pod's phase matching its run", lambda: not pods_settled(), timeout=60)
    for name in RUNS:
        cluster.objects.delete_namespaced_custom_object(
            "kflow.dev", "v1alpha1", cluster.namespace, "flowruns", name
        )

    def left_behind() -> list[str]:
        jobs = batch.list_namespaced_job(cluster.namespace, label_selector=RUN_LABEL).items
        pods = cluster.core.list_namespaced_pod(cluster.namespace, label_selector=RUN_LABEL).items
        return [f"Job {name_of(job)}" for job in jobs] + [f"pod {name_of(pod)}" for pod in pods]

    wait_until("the deleted runs' Jobs and pods removed", lambda: not left_behind(), timeout=90)
    assert node.node_ready(), "the node is not Ready after the kubelet restart"
    print(
        f"\nkubelet SIGKILLed (pid {killed_kubelet}) for {KUBELET_DOWN_SECONDS}s: "
        f"{len(SLEEPERS)} runs COMPLETED, the one killed meanwhile CRASHED "
        f"({victim_message!r}), all right {recovered:.1f}s after the kubelet was Ready again, "
        f"same Jobs re-adopted; runs lost 0, started twice 0, Jobs or pods orphaned 0"
    )
