"""The process launcher's fork server with real processes (no cluster): `kflow execute` runs in
a child forked from the warm interpreter, set up as exec would have (session, environment,
working directory, log); the server's death means exec again, said in one log line."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kflow.resources import EffectiveInfrastructure
from kflow_operator.identifiers import ProcessId
from kflow_operator.infrastructure import LaunchRequest, ObservedPhase
from kflow_operator.launchers.process import ProcessLauncher

SERVER_MODULE = b"kflow_operator.launchers.fork_server"


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[ProcessLauncher]:
    launcher = ProcessLauncher(tmp_path / "logs", scope="test-host/boot")
    yield launcher
    launcher.close()


def request(command: list[str] | None = None, uid: str = "uid", **infra: object) -> LaunchRequest:
    return LaunchRequest(
        namespace="ns",
        name="r",
        uid=uid,
        attempt=1,
        infrastructure=EffectiveInfrastructure.model_validate({"type": "process", **infra}),
        # No cluster: `kflow execute` cannot read its FlowRun and exits 2 saying so.
        env={
            "KFLOW_FLOW_RUN_NAMESPACE": "ns",
            "KFLOW_FLOW_RUN_NAME": "r",
            "KFLOW_FLOW_RUN_UID": uid,
            "KUBECONFIG": "/nonexistent",
            "GREETING": "hi",
        },
        command=command,
    )


def wait(what: str, probe: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(0.01)


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def is_fork_server(pid: int) -> bool:
    return SERVER_MODULE in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_kflow_execute_runs_in_a_forked_child_set_up_like_an_execd_one(
    launcher: ProcessLauncher, tmp_path: Path
) -> None:
    launched = launcher.launch(request(process={"workingDirectory": str(tmp_path)}))
    pid = ProcessId.parse(launched.identifier.id).pid
    assert is_fork_server(parent_of(pid))
    assert os.getsid(pid) == pid, "its own session, for cancellation and the operator's signals"
    assert os.readlink(f"/proc/{pid}/cwd") == str(tmp_path)
    fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    assert fds == [0, 1, 2], "only the gate and the log, as exec with close_fds"
    launcher.release(launched)
    wait("the run to end", lambda: launcher.observe(launched.identifier).gone)
    observed = launcher.observe(launched.identifier)
    assert observed.phase is ObservedPhase.EXITED and observed.exit_code == 2
    log = Path(launched.log_path or "").read_text()
    # Its environment is the run's (/proc/PID/environ keeps the server's start-up copy).
    assert "no kubeconfig file at /nonexistent" in log, log
    launcher.forget(launched.identifier)
    wait("the child reaped", lambda: not Path(f"/proc/{pid}").exists())


def test_a_killed_forked_child_is_observed_with_its_signal(
    launcher: ProcessLauncher, tmp_path: Path
) -> None:
    launched = launcher.launch(request(["/bin/sh", "-c", "echo ready; exec sleep 60"]))
    pid = ProcessId.parse(launched.identifier.id).pid
    assert is_fork_server(parent_of(pid))
    launcher.release(launched)
    log = Path(launched.log_path or "")
    wait("the command to run", lambda: "ready" in log.read_text())
    launcher.stop(launched.identifier, 30)
    wait("SIGTERM to end it", lambda: launcher.observe(launched.identifier).gone)
    assert launcher.observe(launched.identifier).signal == "SIGTERM"


def test_a_dead_fork_server_means_exec_said_once(
    launcher: ProcessLauncher, caplog: pytest.LogCaptureFixture
) -> None:
    first = launcher.launch(request(["/bin/sh", "-c", "exit 3"]))
    server = parent_of(ProcessId.parse(first.identifier.id).pid)
    assert is_fork_server(server)
    launcher.release(first)
    wait("the first run to end", lambda: launcher.observe(first.identifier).gone)
    assert launcher.observe(first.identifier).exit_code == 3
    with caplog.at_level(logging.WARNING):
        os.kill(server, signal.SIGKILL)
        wait(
            "the launcher to notice",
            lambda: "fork server unavailable" in caplog.text,
        )
        for _ in range(2):
            launched = launcher.launch(request(["/bin/sh", "-c", "exit 4"]))
            assert parent_of(ProcessId.parse(launched.identifier.id).pid) == os.getpid()
            launcher.release(launched)
            wait("the run to end", lambda: launcher.observe(launched.identifier).gone)  # noqa: B023
            assert launcher.observe(launched.identifier).exit_code == 4
    assert caplog.text.count("fork server unavailable") == 1


def test_without_the_fork_server_every_run_is_execd(tmp_path: Path) -> None:
    launcher = ProcessLauncher(tmp_path / "logs", scope="test-host/boot", fork_server=False)
    try:
        launched = launcher.launch(request(["/bin/sh", "-c", "exit 5"]))
        assert parent_of(ProcessId.parse(launched.identifier.id).pid) == os.getpid()
        launcher.release(launched)
        wait("the run to end", lambda: launcher.observe(launched.identifier).gone)
        assert launcher.observe(launched.identifier).exit_code == 5
    finally:
        launcher.close()


def test_another_python_is_execd_by_the_fork_server(
    launcher: ProcessLauncher, tmp_path: Path
) -> None:
    import sys

    launched = launcher.launch(request(process={"pythonExecutable": sys.executable}))
    pid = ProcessId.parse(launched.identifier.id).pid
    launcher.release(launched)
    wait(
        "the exec",
        lambda: (
            b"-c" in Path(f"/proc/{pid}/cmdline").read_bytes()
            or launcher.observe(launched.identifier).gone
        ),
    )
    wait("the run to end", lambda: launcher.observe(launched.identifier).gone)
    assert launcher.observe(launched.identifier).exit_code == 2


def test_a_forked_child_forgotten_before_the_exit_watcher_saw_it_is_reaped(
    launcher: ProcessLauncher,
) -> None:
    """The supervisor may see a zombie in /proc, finish the run and forget it before the exit
    watcher's callback ran (the callback is then dropped): forget reaps it itself."""
    launched = launcher.launch(request(["/bin/sh", "-c", "exit 6"]))
    pid = ProcessId.parse(launched.identifier.id).pid
    launcher._exits.unwatch(pid)  # the exit watcher's turn never comes
    launcher.release(launched)

    def zombie() -> bool:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] == "Z"

    wait("the child to end", zombie)
    observed = launcher.observe(launched.identifier)
    assert observed.phase is ObservedPhase.EXITED and observed.exit_code == 6
    launcher.forget(launched.identifier)
    assert not Path(f"/proc/{pid}").exists(), "reaped, not left a zombie of the fork server"


def test_a_forked_child_names_its_own_run_only_in_proc_environ(
    launcher: ProcessLauncher, tmp_path: Path
) -> None:
    """The owner check reads /proc/PID/environ, which for a forked child is the server's
    start-up memory: each child names its own run there, the server none. An identifier
    forged to point at another run's child is neither signalled nor taken for the run, and a
    restarted operator (no memory of its children) still recognises the real one."""
    from kflow_operator.identifiers import InfrastructureId
    from kflow_operator.launchers.process_owner import runs_for

    command = ["/bin/sh", "-c", "echo ready; exec sleep 60"]
    first = launcher.launch(request(command, uid="uid-a"))
    second = launcher.launch(request(command, uid="uid-b"))
    pid_a = ProcessId.parse(first.identifier.id).pid
    pid_b = ProcessId.parse(second.identifier.id).pid
    server = parent_of(pid_a)
    assert is_fork_server(server) and parent_of(pid_b) == server
    assert runs_for(pid_a, "uid-a") and runs_for(pid_b, "uid-b"), "each names its own run"
    assert not runs_for(pid_a, "uid-b") and not runs_for(pid_b, "uid-a")
    assert not runs_for(server, "uid-a") and not runs_for(server, "uid-b")
    for launched in (first, second):
        launcher.release(launched)
        log = Path(launched.log_path or "")
        wait("the command to run", lambda: "ready" in log.read_text())  # noqa: B023
    assert runs_for(pid_a, "uid-a"), "the exec'd command has the run's own environment"

    forged = InfrastructureId(
        first.identifier.type, first.identifier.scope, first.identifier.id, owner="uid-b"
    )
    launcher.kill(forged)
    observed = launcher.observe(forged)
    assert observed.phase is ObservedPhase.MISSING
    assert "is not this run's process" in observed.reason
    restarted = ProcessLauncher(tmp_path / "other", scope="test-host/boot", fork_server=False)
    try:
        assert restarted.observe(forged).phase is ObservedPhase.MISSING
        own = InfrastructureId(
            first.identifier.type, first.identifier.scope, first.identifier.id, owner="uid-a"
        )
        assert restarted.observe(own).phase is ObservedPhase.RUNNING
        assert launcher.observe(first.identifier).phase is ObservedPhase.RUNNING, "unharmed"
        restarted.kill(own)
    finally:
        restarted.close()
    wait("the real owner's kill to end it", lambda: launcher.observe(first.identifier).gone)
    assert launcher.observe(first.identifier).signal == "SIGKILL"
    launcher.kill(second.identifier)
    wait("the second run to end", lambda: launcher.observe(second.identifier).gone)
