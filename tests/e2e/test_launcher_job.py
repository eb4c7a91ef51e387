"""The Kubernetes Job launcher end to end: a real operator, a real node running the flow pods,
real flows in the kflow runtime image, observed the way a user would (FlowRun status,
`kflow flow-run logs`, kubectl)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.e2e.launcher_support import (
    FIRST,
    RESTARTED,
    LauncherRuns,
    cancel_with_identifier_forged_to_another_run,
    finished,
    logs,
    times,
)
from tests.integration.conftest import Cluster, OperatorFactory, OperatorProcess, wait_until

pytestmark = pytest.mark.e2e

RUN_LABEL = "kflow.dev/flow-run-uid"


@pytest.fixture
def job_operator(operators: OperatorFactory, node_cluster: Any) -> OperatorProcess:
    return operators.start()


@pytest.fixture
def batch(api_client: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


@dataclass
class JobRuns(LauncherRuns):
    """The test's runs as Kubernetes Jobs on the node."""

    infrastructure_type = "kubernetes-job"
    left_behind_kind = "Job or pod"
    removal_timeout = 60
    batch: client.BatchV1Api

    def left_behind(self) -> list[Any]:
        return jobs_of(self.cluster, self.batch) + pods_of(self.cluster)


@pytest.fixture
def runs(
    cluster: Cluster, batch: client.BatchV1Api, node_flows_image: str, leftovers: None
) -> JobRuns:
    return JobRuns(cluster, node_flows_image, batch)


def pods_of(cluster: Cluster) -> list[Any]:
    listed = cluster.core.list_namespaced_pod(cluster.namespace, label_selector=RUN_LABEL)
    return list(listed.items)


def jobs_of(cluster: Cluster, batch: client.BatchV1Api) -> list[Any]:
    return list(batch.list_namespaced_job(cluster.namespace, label_selector=RUN_LABEL).items)


def job_of(batch: client.BatchV1Api, run: dict[str, Any]) -> Any:
    path, _, _ = run["status"]["infrastructure"]["id"].partition("@")
    namespace, _, name = path.partition("/")
    return batch.read_namespaced_job(name, namespace)


class PodLogFollower:
    """`kubectl logs -f` of the run's pod from the moment it runs: a Job's pod is deleted on
    cancel, so what it printed on the way out is only seen by someone following."""

    def __init__(self, cluster: Cluster) -> None:
        pod = wait_until("the run's pod running", lambda: _running_pod(cluster), timeout=60)
        self.text = ""
        self._thread = threading.Thread(
            target=self._follow, args=(cluster, pod.metadata.name), daemon=True
        )
        self._thread.start()

    def _follow(self, cluster: Cluster, pod: str) -> None:
        with contextlib.suppress(Exception):
            response: Any = cluster.core.read_namespaced_pod_log(
                pod, cluster.namespace, follow=True, _preload_content=False
            )
            for chunk in response.stream(4096):
                self.text += chunk.decode(errors="replace")

    def wait_for(self, marker: str) -> None:
        wait_until(f"{marker!r} in the pod's log", lambda: marker in self.text, timeout=30)

    def join(self) -> str:
        self._thread.join(timeout=30)
        return self.text


def _running_pod(cluster: Cluster) -> Any:
    return next((p for p in pods_of(cluster) if p.status.phase == "Running"), None)


@pytest.fixture
def leftovers(cluster: Cluster, batch: client.BatchV1Api) -> Iterator[None]:
    """Safety net: Jobs and pods a failed test left behind are force-deleted afterwards."""
    yield
    for job in jobs_of(cluster, batch):
        with contextlib.suppress(ApiException):
            batch.delete_namespaced_job(
                job.metadata.name, cluster.namespace, propagation_policy="Background"
            )
    for pod in pods_of(cluster):
        with contextlib.suppress(ApiException):
            cluster.core.delete_namespaced_pod(
                pod.metadata.name, cluster.namespace, grace_period_seconds=0
            )


def test_run_completes_with_result_and_logs(
    cluster: Cluster, job_operator: OperatorProcess, batch: client.BatchV1Api, runs: JobRuns
) -> None:
    runs.start("adds", {"a": 2, "b": 3})
    run = cluster.wait_state("r", "COMPLETED", timeout=90)
    assert run["status"]["result"]["value"] == 5
    infrastructure = run["status"]["infrastructure"]
    kube_system = cluster.core.read_namespace("kube-system")
    assert infrastructure["type"] == "kubernetes-job"
    assert kube_system.metadata is not None
    assert infrastructure["scope"] == kube_system.metadata.uid
    job = job_of(batch, run)
    assert infrastructure["id"] == f"{cluster.namespace}/{job.metadata.name}@{job.metadata.uid}"
    assert job.spec.backoff_limit == 0
    assert job.spec.template.spec.restart_policy == "Never"
    assert job.spec.template.spec.service_account_name == "kflow-flow-run"
    (owner,) = job.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("FlowRun", "r", run["metadata"]["uid"])
    types = [entry["type"] for entry in run["status"]["stateHistory"]]
    assert types == ["PENDING", "RUNNING", "COMPLETED"]
    run = finished(cluster, "r")
    assert run["status"]["infrastructure"]["exitCode"] == 0
    assert "adding 2 and 3" in logs(cluster, "r")
    runs.delete_and_expect_nothing_left("r")


def test_flow_service_account_may_only_read_and_report(
    cluster: Cluster, api_client: client.ApiClient, job_operator: OperatorProcess, runs: JobRuns
) -> None:
    runs.start("adds", {"a": 1, "b": 1})
    cluster.wait_state("r", "COMPLETED", timeout=90)
    account = f"system:serviceaccount:{cluster.namespace}:kflow-flow-run"

    authorization: Any = client.AuthorizationV1Api(api_client)

    def can(verb: str, resource: str, namespace: str | None = None) -> bool:
        """`kubectl auth can-i VERB RESOURCE --as=<the flow's service account>`."""
        kind, _, subresource = resource.partition("/")
        plural, _, group = kind.partition(".")
        review = {
            "spec": {
                "user": account,
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{cluster.namespace}"],
                "resourceAttributes": {
                    "namespace": namespace or cluster.namespace,
                    "verb": verb,
                    "group": group,
                    "resource": plural,
                    "subresource": subresource,
                },
            }
        }
        return bool(authorization.create_subject_access_review(review).status.allowed)

    assert can("get", "flowruns.kflow.dev")
    assert can("watch", "flowruns.kflow.dev")
    assert can("get", "deployments.kflow.dev")
    assert can("patch", "flowruns.kflow.dev/status")
    assert not can("create", "flowruns.kflow.dev")
    assert not can("delete", "flowruns.kflow.dev")
    assert not can("patch", "deployments.kflow.dev")
    assert not can("get", "secrets")
    assert not can("create", "pods")
    assert not can("get", "flowruns.kflow.dev", namespace="default")
    runs.delete_and_expect_nothing_left("r")


def test_failing_flow_fails(cluster: Cluster, job_operator: OperatorProcess, runs: JobRuns) -> None:
    runs.start("fails")
    run = cluster.wait_state("r", "FAILED", timeout=90)
    assert "the flow failed on purpose" in run["status"]["state"]["message"]
    run = finished(cluster, "r")
    assert run["status"]["infrastructure"]["exitCode"] == 1
    assert len(pods_of(cluster)) == 1, "backoffLimit 0: the SDK retries, not the Job"
    runs.delete_and_expect_nothing_left("r")


def test_oom_killed_pod_is_crashed_with_the_reason(
    cluster: Cluster, job_operator: OperatorProcess, runs: JobRuns
) -> None:
    limits = {"containers": [{"name": "flow", "resources": {"limits": {"memory": "192Mi"}}}]}
    runs.start(
        "hogs_memory",
        {"megabytes": 2048},
        infrastructure={"job": {"podTemplatePatch": {"spec": limits}}},
    )
    run = cluster.wait_state("r", "CRASHED", timeout=90)
    message = run["status"]["state"]["message"]
    assert "OOMKilled" in message, message
    run = finished(cluster, "r")
    assert run["status"]["infrastructure"]["exitCode"] == 137
    runs.delete_and_expect_nothing_left("r")


def test_job_deleted_from_outside_is_crashed_within_seconds(
    cluster: Cluster, job_operator: OperatorProcess, batch: client.BatchV1Api, runs: JobRuns
) -> None:
    # The flow handles SIGTERM (its pod is deleted with the Job): whichever of the operator
    # (the Job is gone) and the flow (SIGTERM with no cancellation asked for) writes first,
    # the run is CRASHED — never CANCELLED, which nobody requested.
    runs.start("sleeps", {"seconds": 300})
    run = cluster.wait_state("r", "RUNNING", timeout=90)
    job = job_of(batch, run)
    batch.delete_namespaced_job(
        job.metadata.name, cluster.namespace, propagation_policy="Background"
    )
    deleted = time.monotonic()
    run = cluster.wait_state("r", "CRASHED", "CANCELLED", timeout=10)
    detected = time.monotonic() - deleted
    print(f"Job deleted → {run['status']['state']['type']} in {detected:.2f}s")
    assert run["status"]["state"]["type"] == "CRASHED", run["status"]["state"]
    message = run["status"]["state"]["message"]
    by_operator = f"Job {cluster.namespace}/{job.metadata.name} was deleted" in message
    by_flow = "terminated by SIGTERM without a cancellation request" in message
    assert by_operator or by_flow, message
    assert detected < 5
    runs.delete_and_expect_nothing_left("r")


def test_pod_evicted_through_the_eviction_api_is_crashed_with_the_reason(
    cluster: Cluster, job_operator: OperatorProcess, runs: JobRuns
) -> None:
    """`kubectl drain` and autoscalers evict through the policy/v1 Eviction subresource."""
    runs.start("sleeps", {"seconds": 300})
    cluster.wait_state("r", "RUNNING", timeout=90)
    pod = wait_until("the run's pod running", lambda: _running_pod(cluster), timeout=60)
    eviction = client.V1Eviction(
        api_version="policy/v1",
        kind="Eviction",
        metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=cluster.namespace),
    )
    cluster.core.create_namespaced_pod_eviction(pod.metadata.name, cluster.namespace, eviction)
    evicted = time.monotonic()
    run = cluster.wait_state("r", "CRASHED", "CANCELLED", "COMPLETED", "FAILED", timeout=10)
    detected = time.monotonic() - evicted
    print(f"pod evicted → {run['status']['state']['type']} in {detected:.2f}s")
    assert run["status"]["state"]["type"] == "CRASHED", run["status"]["state"]
    message = run["status"]["state"]["message"]
    assert "EvictionByEvictionAPI" in message, message
    assert detected < 5
    finished(cluster, "r", timeout=60)
    runs.delete_and_expect_nothing_left("r")


def test_cancel_of_a_flow_that_handles_sigterm_runs_its_hook(
    cluster: Cluster, job_operator: OperatorProcess, runs: JobRuns
) -> None:
    runs.start("waits_for_cancel", cancelGracePeriodSeconds=30)
    cluster.wait_state("r", "RUNNING", timeout=90)
    follower = PodLogFollower(cluster)
    follower.wait_for("waiting to be cancelled")
    run, took = runs.cancel_and_time("r", timeout=30)
    print(f"cancel → CANCELLED in {took:.2f}s (grace 30s)")
    assert not pods_of(cluster), "CANCELLED only once no pod of the run is left"
    assert took < 20, "a flow that stops on request is not waited on for the grace period"
    assert "on_cancellation hook ran" in follower.join()
    run = finished(cluster, "r")
    assert "killTime" not in run["status"].get("cancellation", {})
    runs.delete_and_expect_nothing_left("r")


def test_cancel_of_a_flow_ignoring_sigterm_kills_it_after_the_grace_period(
    cluster: Cluster, job_operator: OperatorProcess, runs: JobRuns
) -> None:
    runs.deploy("ignores_sigterm", cancelGracePeriodSeconds=30)
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "cancelGracePeriodSeconds": 3})
    cluster.wait_state("r", "RUNNING", timeout=90)
    follower = PodLogFollower(cluster)
    follower.wait_for("ignoring SIGTERM")
    run, took = runs.cancel_and_time("r", timeout=30)
    print(f"cancel (grace 3s, SIGTERM ignored) → CANCELLED in {took:.2f}s")
    assert not pods_of(cluster), "CANCELLED only once no pod of the run is left"
    assert 3.0 <= took <= 12.0, f"CANCELLED {took:.2f}s after the request, grace period 3s"
    steps = times(run)
    assert (steps["goneTime"] - steps["stopTime"]).total_seconds() >= 2.9
    assert "on_cancellation hook ran" not in follower.join()
    runs.delete_and_expect_nothing_left("r")


def test_operator_sigkilled_mid_run_still_tracks_the_run_to_its_end(
    cluster: Cluster, operators: OperatorFactory, batch: client.BatchV1Api, runs: JobRuns
) -> None:
    first = operators.start(*FIRST)
    runs.deploy("sleeps")
    cluster.flowrun("s", {"deploymentRef": {"name": "d"}, "parameters": {"seconds": 8}})
    runs.deploy("ignores_sigterm", name="ignores")
    cluster.flowrun("r", {"deploymentRef": {"name": "ignores"}})
    run = cluster.wait_state("r", "RUNNING", timeout=90)
    cluster.wait_state("s", "RUNNING", timeout=90)
    first.sigkill()
    job = job_of(batch, run)
    batch.delete_namespaced_job(
        job.metadata.name, cluster.namespace, propagation_policy="Background"
    )
    operators.start(*RESTARTED)
    crashed = cluster.wait_state("r", "CRASHED", timeout=30)
    assert "was deleted" in crashed["status"]["state"]["message"]
    completed = cluster.wait_state("s", "COMPLETED", timeout=60)
    assert completed["status"]["result"]["value"] == "woke up"
    assert finished(cluster, "s")["status"]["infrastructure"]["exitCode"] == 0
    finished(cluster, "r")
    runs.delete_and_expect_nothing_left("r", "s")


def test_image_that_cannot_be_had_is_crashed_past_the_deadline_and_cleaned_up(
    cluster: Cluster, operators: OperatorFactory, batch: client.BatchV1Api, runs: JobRuns
) -> None:
    operators.start("--job-image-pull-deadline", "5")
    runs.start("adds", {"a": 1, "b": 2}, image="kflow/no-such-image:1")
    run = cluster.wait_state("r", "CRASHED", timeout=60)
    message = run["status"]["state"]["message"]
    assert "ErrImageNeverPull" in message, message
    assert "no-such-image" in message, message
    finished(cluster, "r")
    wait_until(
        "the stuck Job and pod removed once the run is finished with",
        lambda: not jobs_of(cluster, batch) and not pods_of(cluster),
        timeout=30,
    )


def test_an_identifier_forged_to_another_runs_job_never_stops_that_job(
    cluster: Cluster, job_operator: OperatorProcess, batch: client.BatchV1Api, runs: JobRuns
) -> None:
    """A cancelled run whose status names another run's Job: that Job is neither marked nor
    deleted, its run completes, and the cancelled run ends saying the Job is not its."""
    ended, victim = cancel_with_identifier_forged_to_another_run(cluster, runs, timeout=90)
    message = ended["status"]["state"]["message"]
    assert "is not this run's" in message and "kflow.dev/flow-run-uid" in message, message
    assert victim["status"]["state"]["type"] == "COMPLETED", victim["status"]["state"]
    assert victim["status"]["result"]["value"] == "woke up"
    assert finished(cluster, "victim")["status"]["infrastructure"]["exitCode"] == 0
    job = job_of(batch, victim)
    assert not (job.metadata.annotations or {}).get("kflow.dev/stop-requested"), "marked stopped"
    assert job.metadata.deletion_timestamp is None
