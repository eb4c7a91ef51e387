"""Runs `kflow execute` as a child process of the operator, on the operator's own host.

Each attempt starts behind a gate (launchers/gate.py, a few lines of sh) that holds
the child until the operator has recorded its identifier and writes `go` on a pipe; only then
does the gate exec the flow command (same PID, same start time). If the operator dies first,
the pipe closes and the gate runs the flow only when the FlowRun status names it — so a crash
anywhere in the launch never runs a flow twice or leaves it running unrecorded.

Children get their own session (an operator's SIGINT/SIGTERM never reaches them) and outlive
the operator; a restarted operator re-adopts them by PID plus start time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from kflow.resources import InfrastructureType

from kflow_operator.identifiers import (
    InfrastructureId,
    ProcessId,
    host_scope,
    is_alive,
    process_id_of,
    read_proc_stat,
    signal_process,
)
from kflow_operator.infrastructure import (
    RUNNING,
    Launched,
    LaunchRequest,
    Observation,
    ObservedPhase,
)
from kflow_operator.launchers.base import Launcher, LaunchError, Wake
from kflow_operator.launchers.exits import ExitWatcher
from kflow_operator.launchers.gate import gate_command
from kflow_operator.launchers.process_owner import runs_for
from kflow_operator.launchers.storage_secrets import SecretEnvReader, secret_values

logger = logging.getLogger(__name__)

LOG_NAME_PREFIX_LIMIT = 150
"""Characters of the run name kept in its log file's name (the launch key keeps it unique)."""
_RUN_KFLOW_CLI = "import sys; from kflow.cli import main; sys.exit(main())"


def default_command(python_executable: str | None = None) -> list[str]:
    """`kflow execute` from the operator's own environment, or via another Python."""
    if python_executable:
        return [
            python_executable,
            "-c",
            "import sys; from kflow.cli import main; sys.exit(main())",
            "execute",
        ]
    script = Path(sys.executable).parent / "kflow"
    if script.exists():
        return [str(script), "execute"]
    found = shutil.which("kflow")
    if found:
        return [found, "execute"]
    return [
        sys.executable,
        "-c",
        "import sys; from kflow.cli import main; sys.exit(main())",
        "execute",
    ]


def _not_the_runs(target: ProcessId) -> Observation:
    return Observation(
        ObservedPhase.MISSING,
        reason=f"PID {target.pid} is not this run's process (the identifier in its status "
        "was changed)",
    )


def describe_wait_status(status: int) -> Observation:
    """An exited process's observation from its wait status."""
    code = os.waitstatus_to_exitcode(status)
    return exit_observation(code)


def exit_observation(returncode: int, reason: str = "") -> Observation:
    """From a Popen-style return code: negative means killed by that signal."""
    if returncode < 0:
        return Observation(
            ObservedPhase.EXITED, signal=signal.Signals(-returncode).name, reason=reason
        )
    return Observation(ObservedPhase.EXITED, exit_code=returncode, reason=reason)


@dataclass
class _Child:
    popen: subprocess.Popen[bytes]
    gate_fd: int | None
    run_uid: str


class ProcessLauncher(Launcher):
    type = InfrastructureType.PROCESS

    def __init__(
        self,
        log_dir: Path,
        scope: str | None = None,
        read_secret_env: SecretEnvReader | None = None,
    ) -> None:
        """`read_secret_env` reads the values of a request's `secret_env` (the resultStorage
        credentials); without it a run that needs them fails saying so."""
        self._log_dir = log_dir
        self._read_secret_env = read_secret_env
        self._scope = scope or host_scope()
        self._children: dict[int, _Child] = {}
        self._lock = threading.Lock()
        self._exits = ExitWatcher()

    @property
    def scope(self) -> str:
        return self._scope

    def log_path(self, request: LaunchRequest) -> Path:
        """`<run name>-<launch key>.log`, the name cut so the file name stays within the 255
        bytes file systems allow (run names may have 253 characters, the key adds 40 more)."""
        name = request.name[:LOG_NAME_PREFIX_LIMIT]
        return self._log_dir / request.namespace / f"{name}-{request.launch_key}.log"

    def launch(self, request: LaunchRequest) -> Launched:
        options = request.infrastructure.process
        python = options.python_executable if options else None
        command = list(request.command or default_command(python))
        cwd = options.working_directory if options else None
        if cwd is not None and not Path(cwd).is_dir():
            raise LaunchError(
                f"spec.infrastructure.process.workingDirectory {cwd!r} is not a directory "
                "on the operator's host"
            )
        secrets = secret_values(request, self._read_secret_env)
        log_path = self.log_path(request)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        gate_read, gate_write = os.pipe()
        env = {**os.environ, **request.env, **secrets}
        try:
            with log_path.open("ab") as log:
                popen = subprocess.Popen(
                    gate_command(command),
                    cwd=cwd,
                    env=env,
                    stdin=gate_read,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except BaseException:
            os.close(gate_write)
            raise
        finally:
            os.close(gate_read)
        with self._lock:
            self._children[popen.pid] = _Child(popen, gate_write, request.uid)
        # Read the start time before anything can reap the child (it exists, at worst a zombie).
        ident = process_id_of(popen.pid).format()
        self._exits.watch(popen.pid, lambda: self._reap(popen.pid))
        return Launched(
            InfrastructureId(self.type.value, self._scope, ident), log_path=str(log_path)
        )

    def release(self, launched: Launched) -> None:
        fd = self._take_gate(launched)
        if fd is None:
            return
        try:
            os.write(fd, b"go\n")
        except BrokenPipeError:
            pass  # the gate already died; observe() reports how
        finally:
            os.close(fd)

    def _take_gate(self, launched: Launched) -> int | None:
        """The write end of the child's gate pipe, once: whoever takes it decides the child's
        fate (release or discard)."""
        pid = ProcessId.parse(launched.identifier.id).pid
        with self._lock:
            child = self._children.get(pid)
            fd = child.gate_fd if child else None
            if child:
                child.gate_fd = None
        return fd

    def discard(self, launched: Launched) -> None:
        fd = self._take_gate(launched)
        if fd is not None:
            os.close(fd)
        self.kill(launched.identifier)

    def _reap(self, pid: int) -> None:
        with self._lock:
            child = self._children.get(pid)
        if child is not None:
            child.popen.poll()

    def observe(self, identifier: InfrastructureId) -> Observation:
        target = ProcessId.parse(identifier.id)
        with self._lock:
            child = self._children.get(target.pid)
        stat = read_proc_stat(target.pid)
        if child is not None and (stat is None or stat.start_ticks == target.start_ticks):
            if identifier.owner not in (None, child.run_uid):
                return _not_the_runs(target)
            returncode = child.popen.poll()
            if returncode is not None:
                return exit_observation(returncode)
            return RUNNING
        if stat is None:
            return Observation(ObservedPhase.MISSING, reason=f"no process with PID {target.pid}")
        if stat.start_ticks != target.start_ticks:
            return Observation(
                ObservedPhase.MISSING,
                reason=f"PID {target.pid} now belongs to another program",
            )
        if stat.state in ("Z", "X"):
            if stat.exit_code is None:
                return Observation(ObservedPhase.EXITED, reason="exit status unknown")
            return describe_wait_status(stat.exit_code)
        if identifier.owner is not None and not runs_for(target.pid, identifier.owner):
            return _not_the_runs(target)
        return RUNNING

    def _signal(self, identifier: InfrastructureId, sig: signal.Signals) -> bool:
        """Signal exactly the recorded process: a pidfd pins it, the start time proves it, and
        its environment proves it is the run's (the identifier came from a writable status)."""
        target = ProcessId.parse(identifier.id)
        if identifier.owner is not None and not runs_for(target.pid, identifier.owner):
            logger.warning(
                "not signalling PID %s: its environment names no FlowRun %s (the identifier "
                "%s in the run's status is not the run's process)",
                target.pid,
                identifier.owner,
                identifier.pid,
            )
            return False
        return signal_process(target, sig)

    def stop(self, identifier: InfrastructureId, grace_seconds: int) -> None:
        self._signal(identifier, signal.SIGTERM)

    def kill(self, identifier: InfrastructureId) -> None:
        if self._signal(identifier, signal.SIGKILL):
            # The run is the leader of its own session: take whatever it started along.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(ProcessId.parse(identifier.id).pid, signal.SIGKILL)

    def adopt(self, identifier: InfrastructureId, wake: Wake) -> None:
        target = ProcessId.parse(identifier.id)
        if not is_alive(target):
            wake()
            return
        self._exits.watch(target.pid, wake)

    def forget(self, identifier: InfrastructureId) -> None:
        pid = ProcessId.parse(identifier.id).pid
        with self._lock:
            child = self._children.get(pid)
            if child is not None and child.popen.poll() is not None:
                del self._children[pid]
                if child.gate_fd is not None:
                    os.close(child.gate_fd)
        self._exits.unwatch(pid)

    def close(self) -> None:
        self._exits.close()
        with self._lock:
            for child in self._children.values():
                if child.gate_fd is not None:
                    os.close(child.gate_fd)
            self._children.clear()
