"""The process launcher with real child processes (no cluster): the gate holds a child until it
is released, a discarded child never runs its command, exits and signals are observed, and only
the recorded process is ever signalled."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kflow.resources import EffectiveInfrastructure
from kflow_operator.identifiers import InfrastructureId, ProcessId
from kflow_operator.infrastructure import LaunchRequest, ObservedPhase
from kflow_operator.launchers.base import LaunchError
from kflow_operator.launchers.process import ProcessLauncher


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[ProcessLauncher]:
    launcher = ProcessLauncher(tmp_path / "logs", scope="test-host/boot")
    yield launcher
    launcher.close()


def request(script: str, tmp_path: Path, **infra: object) -> LaunchRequest:
    return LaunchRequest(
        namespace="ns",
        name="r",
        uid="uid",
        attempt=1,
        infrastructure=EffectiveInfrastructure.model_validate({"type": "process", **infra}),
        # No cluster: an orphaned gate cannot confirm its record and must not run the flow.
        env={
            "KFLOW_FLOW_RUN_NAMESPACE": "ns",
            "KFLOW_FLOW_RUN_NAME": "r",
            "KUBECONFIG": "/nonexistent",
        },
        command=["/bin/sh", "-c", script],
    )


def wait(what: str, probe: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(0.01)


def test_released_child_runs_and_its_exit_is_observed(
    launcher: ProcessLauncher, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    launched = launcher.launch(request(f"echo $KFLOW_FLOW_RUN_NAME > {marker}; exit 4", tmp_path))
    ident = launched.identifier
    assert ident.type == "process" and ident.scope == "test-host/boot"
    ProcessId.parse(ident.id)
    woken = threading.Event()
    launcher.adopt(ident, woken.set)
    time.sleep(0.2)
    assert not marker.exists(), "the gate must hold the command until release"
    launcher.release(launched)
    assert woken.wait(10), "the exit watcher wakes the supervisor"
    observed = launcher.observe(ident)
    assert observed.phase is ObservedPhase.EXITED and observed.exit_code == 4
    assert marker.read_text() == "r\n"
    assert launched.log_path is not None and Path(launched.log_path).exists()


def test_discarded_child_never_runs_its_command(launcher: ProcessLauncher, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    launched = launcher.launch(request(f"touch {marker}", tmp_path))
    launcher.discard(launched)
    wait("the gate to end", lambda: launcher.observe(launched.identifier).gone)
    assert not marker.exists()


def test_stop_then_kill(launcher: ProcessLauncher, tmp_path: Path) -> None:
    launched = launcher.launch(
        request("trap '' TERM; echo ready; while :; do sleep 0.05; done", tmp_path)
    )
    launcher.release(launched)
    log = Path(launched.log_path or "")
    wait("the script to be ready", lambda: "ready" in log.read_text())
    launcher.stop(launched.identifier, 30)
    time.sleep(0.3)
    assert launcher.observe(launched.identifier).phase is ObservedPhase.RUNNING
    launcher.kill(launched.identifier)
    wait("the kill", lambda: launcher.observe(launched.identifier).gone)
    assert launcher.observe(launched.identifier).signal == "SIGKILL"


def test_a_reused_pid_is_never_signalled(launcher: ProcessLauncher) -> None:
    me = ProcessId(os.getpid(), 1)  # our PID, a start time that is not ours
    impostor = InfrastructureId("process", "test-host/boot", me.format())
    observed = launcher.observe(impostor)
    assert observed.phase is ObservedPhase.MISSING
    assert "belongs to another program" in observed.reason
    launcher.kill(impostor)  # must be a no-op: we are still here


def test_missing_working_directory_is_the_runs_fault(
    launcher: ProcessLauncher, tmp_path: Path
) -> None:
    with pytest.raises(LaunchError, match="workingDirectory '/no/such' is not a directory"):
        launcher.launch(request("true", tmp_path, process={"workingDirectory": "/no/such"}))
