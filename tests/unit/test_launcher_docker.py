"""The Docker launcher's pure decisions: container states, names, scope, kubeconfig, sweeping."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from kflow.resources import EffectiveInfrastructure
from kflow_operator.identifiers import format_pid, parse_pid
from kflow_operator.infrastructure import LaunchRequest, ObservedPhase, signal_of_exit_code
from kflow_operator.launchers.base import UNRECORDED_GRACE_SECONDS
from kflow_operator.launchers.docker.container_spec import parse_volume
from kflow_operator.launchers.docker.kube_access import flatten_kubeconfig
from kflow_operator.launchers.docker.names import (
    LABEL_UID,
    container_labels,
    container_name,
    docker_api_url,
    docker_scope,
)
from kflow_operator.launchers.docker.observe import observation_of_state, should_sweep
from kflow_operator.launchers.docker.options import RemovalPolicy

UID = "5f0c6a53-2a39-4c34-9d2e-0c1b2a3d4e5f"


def request(name: str = "nightly-etl", attempt: int = 1) -> LaunchRequest:
    return LaunchRequest(
        namespace="team",
        name=name,
        uid=UID,
        attempt=attempt,
        infrastructure=EffectiveInfrastructure.model_validate({"type": "docker", "image": "img:1"}),
        env={},
    )


def test_scope_carries_the_url_and_the_daemon_and_survives_the_pid_format() -> None:
    scope = docker_scope("unix:///var/run/docker.sock", "4a1f-9c")
    assert docker_api_url(scope) == "unix:///var/run/docker.sock"
    assert docker_api_url("tcp://127.0.0.1:2375") == "tcp://127.0.0.1:2375"
    container_id = "ab" * 32
    assert parse_pid(format_pid(scope, container_id)) == (scope, container_id)


def test_container_name_is_deterministic_per_attempt_and_valid() -> None:
    assert container_name(request()) == container_name(request())
    assert container_name(request(attempt=2)) != container_name(request())
    name = container_name(request(name="a.b:c/d"))
    assert name.startswith("kflow-a.b-c-d-") and name.endswith(f"{UID}-1")


def test_labels_name_the_flow_run_and_cluster() -> None:
    labels = container_labels(request(), "cluster-uid")
    assert labels[LABEL_UID] == UID
    assert set(labels.values()) >= {"team", "nightly-etl", "1", "cluster-uid"}


@pytest.mark.parametrize(
    ("state", "phase", "code", "signal", "reason"),
    [
        ({"Status": "running"}, ObservedPhase.RUNNING, None, None, ""),
        ({"Status": "created"}, ObservedPhase.RUNNING, None, None, ""),
        ({"Status": "exited", "ExitCode": 0}, ObservedPhase.EXITED, 0, None, ""),
        ({"Status": "exited", "ExitCode": 1}, ObservedPhase.EXITED, 1, None, ""),
        ({"Status": "exited", "ExitCode": 137}, ObservedPhase.EXITED, 137, "SIGKILL", ""),
        (
            {"Status": "exited", "ExitCode": 137, "OOMKilled": True},
            ObservedPhase.EXITED,
            137,
            "SIGKILL",
            "OOMKilled",
        ),
        (
            {"Status": "created", "ExitCode": 127, "Error": 'exec: "kflow": not found'},
            ObservedPhase.EXITED,
            127,
            None,
            'Docker: exec: "kflow": not found',
        ),
        ({"Status": "dead", "ExitCode": 0}, ObservedPhase.EXITED, 0, None, "container is dead"),
        ({"Status": "removing"}, ObservedPhase.MISSING, None, None, "container is being removed"),
    ],
)
def test_container_state_to_observation(
    state: dict[str, Any], phase: ObservedPhase, code: int | None, signal: str | None, reason: str
) -> None:
    observation = observation_of_state(state)
    assert (observation.phase, observation.exit_code, observation.signal, observation.reason) == (
        phase,
        code,
        signal,
        reason,
    )


def test_oom_kill_reads_well_in_a_state_message() -> None:
    observation = observation_of_state({"Status": "exited", "ExitCode": 137, "OOMKilled": True})
    assert observation.describe() == "killed by SIGKILL (OOMKilled)"


def test_signal_of_exit_code() -> None:
    assert signal_of_exit_code(143) == "SIGTERM"
    assert signal_of_exit_code(128) is None
    assert signal_of_exit_code(255) is None
    assert signal_of_exit_code(2) is None


def test_parse_volume() -> None:
    assert parse_volume("/data:/data") == ("/data", "/data", "rw")
    assert parse_volume("cache:/root/.cache:ro") == ("cache", "/root/.cache", "ro")


def test_flatten_kubeconfig_inlines_referenced_files(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(b"CA")
    (tmp_path / "client.crt").write_bytes(b"CERT")
    (tmp_path / "token").write_text("secret\n")
    config = {
        "clusters": [
            {"name": "c", "cluster": {"server": "https://x", "certificate-authority": "ca.crt"}}
        ],
        "users": [
            {"name": "u", "user": {"client-certificate": str(tmp_path / "client.crt")}},
            {"name": "t", "user": {"tokenFile": "token"}},
        ],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    flat = flatten_kubeconfig(path)
    cluster = flat["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA"
    assert "certificate-authority" not in cluster
    assert base64.b64decode(flat["users"][0]["user"]["client-certificate-data"]) == b"CERT"
    assert flat["users"][1]["user"] == {"token": "secret"}


def flow_run(uid: str = UID, recorded: str | None = None, finished: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if recorded:
        status["infrastructure"] = {"id": recorded}
    if finished:
        status["conditions"] = [{"type": "Finished", "status": "True"}]
    return {"metadata": {"uid": uid}, "status": status}


LABELS = {LABEL_UID: UID}
OLD = UNRECORDED_GRACE_SECONDS + 1


@pytest.mark.parametrize(
    ("status", "age", "run", "removal", "removed"),
    [
        ("running", 5, None, RemovalPolicy.WITH_FLOW_RUN, "its FlowRun no longer exists"),
        ("exited", 5, flow_run(uid="other"), RemovalPolicy.WITH_FLOW_RUN, "deleted"),
        ("running", OLD, flow_run(recorded="c1"), RemovalPolicy.WITH_FLOW_RUN, None),
        ("created", 5, flow_run(), RemovalPolicy.WITH_FLOW_RUN, None),
        ("created", OLD, flow_run(), RemovalPolicy.WITH_FLOW_RUN, "never recorded"),
        ("created", OLD, flow_run(recorded="c1"), RemovalPolicy.WITH_FLOW_RUN, None),
        ("exited", OLD, flow_run(recorded="c1", finished=True), RemovalPolicy.WITH_FLOW_RUN, None),
        (
            "exited",
            OLD,
            flow_run(recorded="c1", finished=True),
            RemovalPolicy.ON_FINISH,
            "finished",
        ),
        ("exited", OLD, flow_run(recorded="c1"), RemovalPolicy.ON_FINISH, None),
        ("exited", OLD, flow_run(recorded="c2"), RemovalPolicy.WITH_FLOW_RUN, "earlier attempt"),
    ],
)
def test_sweeping(
    status: str,
    age: float,
    run: dict[str, Any] | None,
    removal: RemovalPolicy,
    removed: str | None,
) -> None:
    why = should_sweep(LABELS, status, age, "c1", run, removal)
    if removed is None:
        assert why is None
    else:
        assert why is not None and removed in why
