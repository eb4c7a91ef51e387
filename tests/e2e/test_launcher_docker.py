"""The Docker launcher end to end: a real operator, a real Docker engine, real flows in the kflow
runtime image, observed the way a user would (FlowRun status, `kflow flow-run logs`, docker)."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container
from kflow_operator.launchers.docker.kube_access import flatten_kubeconfig
from kflow_operator.launchers.flow_account import FlowAccounts
from kflow_operator.launchers.flow_credentials import (
    CREDENTIAL_FILE,
    FlowCredentials,
    cluster_entry,
    run_kubeconfig,
)
from kubernetes import client, config
from kubernetes.client import ApiClient

from tests.e2e.launcher_support import (
    FIRST,
    GROUP,
    RESTARTED,
    VERSION,
    LauncherRuns,
    cancel_with_identifier_forged_to_another_run,
    finished,
    logs,
    times,
)
from tests.integration.conftest import Cluster, OperatorFactory, OperatorProcess, wait_until

pytestmark = pytest.mark.e2e

NAMESPACE_LABEL = "kflow.dev/flow-run-namespace"
SWEEP = ("--docker-sweep-seconds", "1")


@pytest.fixture
def engine(docker_engine: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=docker_engine)


@pytest.fixture
def leftovers(cluster: Cluster, engine: docker.DockerClient) -> Iterator[None]:
    """Safety net: whatever a failed test left in the engine is removed afterwards."""
    yield
    for container_id in containers_of(engine, cluster.namespace):
        with contextlib.suppress(docker.errors.APIError):
            engine.api.remove_container(container_id, force=True)


@pytest.fixture
def docker_operator(operators: OperatorFactory, leftovers: None) -> OperatorProcess:
    return operators.start("--docker", *SWEEP)


def containers_of(engine: docker.DockerClient, namespace: str) -> list[str]:
    """IDs of the namespace's kflow containers (summaries only: the sweeper may remove one
    between listing and inspecting)."""
    found = engine.api.containers(all=True, filters={"label": f"{NAMESPACE_LABEL}={namespace}"})
    return [str(summary["Id"]) for summary in found]


def container_of(engine: docker.DockerClient, run: dict[str, Any]) -> Container:
    container: Container = engine.containers.get(run["status"]["infrastructure"]["id"])
    return container


@dataclass
class DockerRuns(LauncherRuns):
    """The test's runs as containers in the Docker engine."""

    infrastructure_type = "docker"
    left_behind_kind = "container"
    removal_timeout = 30
    engine: docker.DockerClient

    def left_behind(self) -> list[Any]:
        return containers_of(self.engine, self.cluster.namespace)


@pytest.fixture
def runs(
    cluster: Cluster, engine: docker.DockerClient, flows_image: str, leftovers: None
) -> DockerRuns:
    return DockerRuns(cluster, flows_image, engine)


def test_run_completes_with_result_and_logs(
    cluster: Cluster,
    docker_operator: OperatorProcess,
    engine: docker.DockerClient,
    docker_engine: str,
    runs: DockerRuns,
) -> None:
    runs.start("adds", {"a": 2, "b": 3})
    run = cluster.wait_state("r", "COMPLETED", timeout=60)
    assert run["status"]["result"]["value"] == 5
    infrastructure = run["status"]["infrastructure"]
    assert infrastructure["type"] == "docker"
    scope, _, daemon_id = infrastructure["scope"].rpartition("#")
    assert scope == docker_engine and daemon_id == engine.info()["ID"]
    assert infrastructure["pid"] == f"{infrastructure['scope']}:{infrastructure['id']}"
    container = container_of(engine, run)
    assert container.labels["kflow.dev/flow-run-name"] == "r"
    assert container.labels["kflow.dev/flow-run-uid"] == run["metadata"]["uid"]
    types = [entry["type"] for entry in run["status"]["stateHistory"]]
    assert types == ["PENDING", "RUNNING", "COMPLETED"]
    run = finished(cluster, "r")
    assert run["status"]["infrastructure"]["exitCode"] == 0
    assert "adding 2 and 3" in logs(cluster, "r")
    assert "adding 2 and 3" in container.logs().decode()
    runs.delete_and_expect_nothing_left("r")


def test_container_runs_as_the_flow_service_account_not_the_operator(
    cluster: Cluster,
    docker_operator: OperatorProcess,
    engine: docker.DockerClient,
    runs: DockerRuns,
) -> None:
    """The flow's credentials are a token of its namespace's kflow-flow-run ServiceAccount:
    it may read and report on its own FlowRun, nothing else."""
    runs.start("probes_access")
    run = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=60)
    assert run["status"]["state"]["type"] == "COMPLETED", run["status"]["state"]
    seen = run["status"]["result"]["value"]
    assert seen == {
        "user": f"system:serviceaccount:{cluster.namespace}:kflow-flow-run",
        "read own FlowRun": 200,
        "patch own FlowRun status": 200,
        "read a FlowRun of another namespace": 403,
        "list pods": 403,
        "list secrets": 403,
        "create FlowRun": 403,
    }
    container = container_of(engine, run)
    # Copied in, not mounted: nothing of the operator's filesystem is shared with the container
    # (an operator in a pod, or a remote engine, has no path the engine could mount).
    assert not [m for m in container.attrs["Mounts"] if m["Destination"] == "/var/run/kflow"]
    stream, _ = container.get_archive("/var/run/kflow")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        assert sorted(archive.getnames()) == [
            "kflow",
            "kflow/credential.json",
            "kflow/kubeconfig",
        ]
    finished(cluster, "r")
    runs.delete_and_expect_nothing_left("r")


def test_flow_tokens_are_renewed_in_place_at_half_life(
    cluster: Cluster, api_client: ApiClient, kubeconfig: Path, tmp_path: Path
) -> None:
    """What keeps a flow running for longer than its first token: past half its life the
    operator writes a fresh token (copied into the container too), and the flow's client (which
    reads the credential file again once it expires) authenticates with it."""
    credentials = FlowCredentials(
        lambda: api_client,
        FlowAccounts(lambda: api_client),
        cluster_entry(flatten_kubeconfig(kubeconfig)),
        tmp_path / "runs",
    )
    directory = credentials.issue("run-1", cluster.namespace)
    credential_file = directory / CREDENTIAL_FILE

    def token() -> str:
        return str(json.loads(credential_file.read_text())["status"]["token"])

    def user_of(current: str) -> str:
        review = client.V1SelfSubjectReview(
            api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"
        )
        flow_api = config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
            run_kubeconfig(
                cluster_entry(flatten_kubeconfig(kubeconfig)),
                cluster.namespace,
                credential=str(credential_file),
            )
        )
        answer = client.AuthenticationV1Api(flow_api).create_self_subject_review(review)
        assert flow_api.configuration.api_key["BearerToken"] == f"Bearer {current}"
        assert answer.status is not None and answer.status.user_info is not None, answer
        return str(answer.status.user_info.username)

    first = token()
    account = f"system:serviceaccount:{cluster.namespace}:kflow-flow-run"
    assert user_of(first) == account
    credentials.refresh()
    assert token() == first, "a young token is kept"
    credentials.refresh(now=datetime.now(UTC) + timedelta(hours=3, minutes=1))
    renewed = token()
    assert renewed != first
    assert user_of(renewed) == account
    credentials.remove("run-1")
    assert not directory.exists()


def test_failing_flow_fails_and_its_container_is_removed_on_finish(
    cluster: Cluster, operators: OperatorFactory, engine: docker.DockerClient, runs: DockerRuns
) -> None:
    operators.start("--docker", "--docker-remove", "on-finish", *SWEEP)
    runs.start("fails")
    run = cluster.wait_state("r", "FAILED", timeout=60)
    assert "the flow failed on purpose" in run["status"]["state"]["message"]
    run = finished(cluster, "r")
    assert run["status"]["infrastructure"]["exitCode"] == 1
    wait_until(
        "the finished run's container removed",
        lambda: not containers_of(engine, cluster.namespace),
        timeout=10,
    )


def test_container_killed_from_outside_is_crashed_with_the_reason(
    cluster: Cluster,
    docker_operator: OperatorProcess,
    engine: docker.DockerClient,
    runs: DockerRuns,
) -> None:
    runs.start("sleeps", {"seconds": 300})
    run = cluster.wait_state("r", "RUNNING", timeout=60)
    container_of(engine, run).kill()
    killed = time.monotonic()
    run = cluster.wait_state("r", "CRASHED", timeout=10)
    detected = time.monotonic() - killed
    print(f"docker kill → CRASHED in {detected:.2f}s")
    message = run["status"]["state"]["message"]
    assert "killed by SIGKILL" in message, message
    run = finished(cluster, "r")
    assert run["status"]["infrastructure"]["exitCode"] == 137
    assert run["status"]["infrastructure"]["signal"] == "SIGKILL"
    runs.delete_and_expect_nothing_left("r")


def test_container_stopped_from_outside_is_crashed_not_cancelled(
    cluster: Cluster,
    docker_operator: OperatorProcess,
    engine: docker.DockerClient,
    runs: DockerRuns,
) -> None:
    """`docker stop` by someone else: SIGTERM with no cancellation requested → CRASHED."""
    runs.start("sleeps", {"seconds": 300})
    run = cluster.wait_state("r", "RUNNING", timeout=60)
    container = container_of(engine, run)
    wait_until("flow sleeping", lambda: b"sleeping 300" in container.logs(), timeout=30)
    container.stop(timeout=30)
    run = cluster.wait_state("r", "CRASHED", "CANCELLED", timeout=10)
    assert run["status"]["state"]["type"] == "CRASHED", run["status"]["state"]
    message = run["status"]["state"]["message"]
    assert "terminated by SIGTERM without a cancellation request" in message, message
    runs.delete_and_expect_nothing_left("r")


def test_cancel_of_a_flow_that_handles_sigterm_runs_its_hook(
    cluster: Cluster,
    docker_operator: OperatorProcess,
    engine: docker.DockerClient,
    runs: DockerRuns,
) -> None:
    runs.start("waits_for_cancel", cancelGracePeriodSeconds=30)
    run = cluster.wait_state("r", "RUNNING", timeout=60)
    container = container_of(engine, run)
    run, took = runs.cancel_and_time("r", timeout=20)
    container.reload()
    print(f"cancel → CANCELLED in {took:.2f}s (grace 30s)")
    assert container.status == "exited", "CANCELLED only once the container has stopped"
    assert took < 15, "a flow that handles the stop request is not waited on for the grace period"
    run = finished(cluster, "r")
    assert "killTime" not in run["status"].get("cancellation", {})
    assert "on_cancellation hook ran" in logs(cluster, "r")
    assert container_of(engine, run).status == "exited"
    runs.delete_and_expect_nothing_left("r")


def test_cancel_of_a_flow_ignoring_sigterm_kills_it_after_the_grace_period(
    cluster: Cluster,
    docker_operator: OperatorProcess,
    engine: docker.DockerClient,
    runs: DockerRuns,
) -> None:
    runs.deploy("ignores_sigterm", cancelGracePeriodSeconds=30)
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "cancelGracePeriodSeconds": 3})
    run = cluster.wait_state("r", "RUNNING", timeout=60)
    container = container_of(engine, run)
    wait_until("SIGTERM ignored", lambda: b"ignoring SIGTERM" in container.logs(), timeout=30)
    run, took = runs.cancel_and_time("r", timeout=20)
    print(f"cancel (grace 3s, SIGTERM ignored) → CANCELLED in {took:.2f}s")
    assert 3.0 <= took <= 8.0, f"CANCELLED {took:.2f}s after the request, grace period 3s"
    steps = times(run)
    stop_to_gone = (steps["goneTime"] - steps["stopTime"]).total_seconds()
    assert 2.9 <= stop_to_gone <= 6.0, f"gone {stop_to_gone:.2f}s after docker stop"
    container.reload()
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == 137
    assert "on_cancellation hook ran" not in logs(cluster, "r")
    runs.delete_and_expect_nothing_left("r")


def test_operator_sigkilled_mid_run_still_tracks_the_run_to_its_end(
    cluster: Cluster, operators: OperatorFactory, engine: docker.DockerClient, runs: DockerRuns
) -> None:
    first = operators.start("--docker", *SWEEP, *FIRST)
    runs.start("sleeps", {"seconds": 300})
    run = cluster.wait_state("r", "RUNNING", timeout=60)
    first.sigkill()
    container = container_of(engine, run)
    container.kill()  # dies while no operator watches it
    operators.start("--docker", *SWEEP, *RESTARTED)
    run = cluster.wait_state("r", "CRASHED", timeout=30)
    assert "killed by SIGKILL" in run["status"]["state"]["message"]
    finished(cluster, "r")
    runs.delete_and_expect_nothing_left("r")


def test_operator_sigkilled_mid_run_records_the_normal_end(
    cluster: Cluster, operators: OperatorFactory, runs: DockerRuns
) -> None:
    first = operators.start("--docker", *SWEEP, *FIRST)
    runs.start("sleeps", {"seconds": 6})
    cluster.wait_state("r", "RUNNING", timeout=60)
    first.sigkill()
    operators.start("--docker", *SWEEP, *RESTARTED)
    run = cluster.wait_state("r", "COMPLETED", timeout=30)
    assert run["status"]["result"]["value"] == "woke up"
    run = finished(cluster, "r")
    assert run["status"]["infrastructure"]["exitCode"] == 0
    runs.delete_and_expect_nothing_left("r")


def test_env_command_override_and_volumes_reach_the_container(
    cluster: Cluster, docker_operator: OperatorProcess, tmp_path: Path, runs: DockerRuns
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note.txt").write_text("from the host volume")
    runs.deploy("adds")
    cluster.objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        cluster.namespace,
        "deployments",
        "d",
        {
            "spec": {
                "infrastructure": {
                    "env": {"GREETING": "hello from the Deployment"},
                    "command": [
                        "sh",
                        "-c",
                        "echo $GREETING; cat /data/note.txt; exec kflow execute",
                    ],
                    "docker": {"volumes": [f"{shared}:/data:ro"]},
                }
            }
        },
    )
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "parameters": {"a": 1, "b": 2}})
    run = cluster.wait_state("r", "COMPLETED", timeout=60)
    assert run["status"]["result"]["value"] == 3
    output = logs(cluster, "r")
    assert "hello from the Deployment" in output
    assert "from the host volume" in output
    runs.delete_and_expect_nothing_left("r")


def test_a_command_docker_cannot_start_is_crashed_with_the_daemons_error(
    cluster: Cluster, docker_operator: OperatorProcess, runs: DockerRuns
) -> None:
    runs.start("adds", {"a": 1, "b": 2}, infrastructure={"command": ["no-such-command"]})
    run = cluster.wait_state("r", "CRASHED", timeout=60)
    message = run["status"]["state"]["message"]
    assert "no-such-command" in message and "Docker:" in message, message
    finished(cluster, "r")
    runs.delete_and_expect_nothing_left("r")


def test_an_identifier_forged_to_another_runs_container_never_stops_it(
    cluster: Cluster,
    docker_operator: OperatorProcess,
    engine: docker.DockerClient,
    runs: DockerRuns,
) -> None:
    """A cancelled run whose status names another run's container: that container is neither
    stopped nor removed, its run completes, and the cancelled run ends saying the container is
    not its."""
    ended, victim = cancel_with_identifier_forged_to_another_run(cluster, runs, timeout=60)
    message = ended["status"]["state"]["message"]
    assert "is not this run's" in message and "kflow.dev/flow-run-uid" in message, message
    assert victim["status"]["state"]["type"] == "COMPLETED", victim["status"]["state"]
    assert victim["status"]["result"]["value"] == "woke up"
    assert finished(cluster, "victim")["status"]["infrastructure"]["exitCode"] == 0
    state = container_of(engine, victim).attrs["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 0), state
