"""Runs `kflow execute` as a child process of the operator, on the operator's own host.

Each attempt starts behind a gate (launchers/gate.py, a few lines of sh) that holds
the child until the operator has recorded its identifier and writes `go` on a pipe; only then
does the gate exec the flow command (same PID, same start time). If the operator dies first,
the pipe closes and the gate runs the flow only when the FlowRun status names it — so a crash
anywhere in the launch never runs a flow twice or leaves it running unrecorded.

Children get their own session (an operator's SIGINT/SIGTERM never reaches them) and outlive
the operator; a restarted operator re-adopts them by PID plus start time.

Children come from the fork server (fork_server.py: a warm interpreter that runs `kflow
execute` without a second of imports) while it is available, else from exec as before. The
server's children stay zombies until their exit status is read here, then the server reaps them.
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
from dataclasses import dataclass, field
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
from kflow_operator.launchers import fork_request
from kflow_operator.launchers.base import Launcher, LaunchError, Wake
from kflow_operator.launchers.exits import ExitWatcher
from kflow_operator.launchers.fork_client import ForkServer, ForkServerUnavailable
from kflow_operator.launchers.gate import gate_command
from kflow_operator.launchers.process_owner import runs_for
from kflow_operator.launchers.storage_secrets import SecretEnvReader, secret_values

logger = logging.getLogger(__name__)

REAP_WAIT_SECONDS = 5.0
"""How long `observe` waits for a forked child's exit status that is being read right now."""
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
    popen: subprocess.Popen[bytes] | None
    """None for a fork server's child (its exit status comes through the server)."""
    gate_fd: int | None
    run_uid: str
    start_ticks: int = 0
    returncode: int | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    forgotten: bool = False
    """forget() came while it was still ending: the exit watcher drops it once reaped."""

    def poll(self) -> int | None:
        return self.popen.poll() if self.popen is not None else self.returncode

    def finished(self) -> bool:
        return self.popen.poll() is not None if self.popen is not None else self.ended.is_set()


class ProcessLauncher(Launcher):
    type = InfrastructureType.PROCESS

    def __init__(
        self,
        log_dir: Path,
        scope: str | None = None,
        read_secret_env: SecretEnvReader | None = None,
        fork_server: bool = True,
    ) -> None:
        """`read_secret_env` reads the values of a request's `secret_env` (the resultStorage
        credentials); without it a run that needs them fails saying so. `fork_server`: start
        runs from the fork server (fork_server.py) while it is available."""
        self._log_dir = log_dir
        self._read_secret_env = read_secret_env
        self._scope = scope or host_scope()
        self._children: dict[int, _Child] = {}
        self._lock = threading.Lock()
        self._exits = ExitWatcher()
        self._server = ForkServer() if fork_server else None
        if self._server is not None and self._server.pid is not None:
            self._exits.watch(self._server.pid, self._server.gone)

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
        env = {**os.environ, **request.env, **secrets}
        with log_path.open("ab") as log:
            forked = None
            if self._server is not None and self._server.available:
                execute = None if python else default_command()
                planned = fork_request.plan(command, execute, env, cwd, self._server.env)
                forked = self._fork(planned, log.fileno(), request)
            pid, child = forked or self._exec(command, cwd, env, log.fileno(), request.uid)
        # Read the start time before anything can reap the child (it exists, at worst a zombie).
        ident = process_id_of(pid)
        child.start_ticks = ident.start_ticks
        with self._lock:
            self._children[pid] = child
        self._exits.watch(pid, lambda: self._reap(pid))
        return Launched(
            InfrastructureId(self.type.value, self._scope, ident.format()), log_path=str(log_path)
        )

    def _fork(
        self, planned: fork_request.ForkRequest, log: int, request: LaunchRequest
    ) -> tuple[int, _Child] | None:
        """A child from the fork server, held at its gate; None when the server cannot."""
        assert self._server is not None
        gate_read, gate_write = os.pipe()
        try:
            pid = self._server.launch(planned, gate_read, log)
        except ForkServerUnavailable as error:
            # Whatever the server may have forked sees its gate close, and never runs.
            os.close(gate_write)
            if self._server.available:
                logger.warning(
                    "FlowRun %s/%s: the fork server could not start it (%s); exec instead.",
                    request.namespace,
                    request.name,
                    error,
                )
            return None
        except BaseException:
            os.close(gate_write)
            raise
        finally:
            os.close(gate_read)
        return pid, _Child(None, gate_write, request.uid)

    def _exec(
        self, command: list[str], cwd: str | None, env: dict[str, str], log: int, run_uid: str
    ) -> tuple[int, _Child]:
        gate_read, gate_write = os.pipe()
        try:
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
        return popen.pid, _Child(popen, gate_write, run_uid)

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
        if child is None:
            return
        if child.popen is not None:
            child.popen.poll()
            return
        # The server's child is a zombie until reaped: its status is in /proc, and the server
        # gives it again when it reaps (the only source left if /proc hides it).
        stat = read_proc_stat(pid)
        if (
            stat is not None
            and stat.start_ticks == child.start_ticks
            and stat.exit_code is not None
        ):
            child.returncode = os.waitstatus_to_exitcode(stat.exit_code)
        status = self._server.reap(pid) if self._server is not None else None
        if status is not None:
            child.returncode = os.waitstatus_to_exitcode(status)
        child.ended.set()
        if child.forgotten:
            self._drop(pid)

    def observe(self, identifier: InfrastructureId) -> Observation:
        target = ProcessId.parse(identifier.id)
        with self._lock:
            child = self._children.get(target.pid)
        if child is not None and child.popen is None and child.start_ticks == target.start_ticks:
            if identifier.owner not in (None, child.run_uid):
                return _not_the_runs(target)
            return self._observe_forked(target, child)
        stat = read_proc_stat(target.pid)
        if child is not None and (stat is None or stat.start_ticks == target.start_ticks):
            if identifier.owner not in (None, child.run_uid):
                return _not_the_runs(target)
            returncode = child.poll()
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

    def _observe_forked(self, target: ProcessId, child: _Child) -> Observation:
        if not child.ended.is_set():
            stat = read_proc_stat(target.pid)
            if stat is not None and stat.start_ticks == target.start_ticks:
                if stat.state not in ("Z", "X"):
                    return RUNNING
                if stat.exit_code is not None:
                    return describe_wait_status(stat.exit_code)
            # Ended, and its status is being read by the exit watcher right now.
            child.ended.wait(REAP_WAIT_SECONDS)
        if child.returncode is None:
            return Observation(ObservedPhase.EXITED, reason="exit status unknown")
        return exit_observation(child.returncode)

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
        if child is not None and child.popen is None and not child.ended.is_set():
            stat = read_proc_stat(pid)
            if (
                stat is not None
                and stat.start_ticks == child.start_ticks
                and stat.state not in "ZX"
            ):
                # Still ending (a kill in flight): the exit watcher reaps it, then drops it.
                child.forgotten = True
                return
            # Seen gone before the exit watcher's turn: reap it now, or it stays a zombie.
            self._reap(pid)
        self._drop(pid)
        self._exits.unwatch(pid)

    def _drop(self, pid: int) -> None:
        with self._lock:
            child = self._children.get(pid)
            if child is not None and child.finished():
                del self._children[pid]
                if child.gate_fd is not None:
                    os.close(child.gate_fd)

    def close(self) -> None:
        self._exits.close()
        if self._server is not None:
            self._server.close()
        with self._lock:
            for child in self._children.values():
                if child.gate_fd is not None:
                    os.close(child.gate_fd)
            self._children.clear()
