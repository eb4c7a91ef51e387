"""Daemons the harness starts, tracked by PID file so `down` stops exactly those.

A PID file stores the PID and the process start time (from /proc); a PID reused by an
unrelated process after a reboot or crash therefore never gets signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.cluster import paths


def pid_dir() -> Path:
    return paths.state_dir() / "pids"


def log_dir() -> Path:
    return paths.state_dir() / "logs"


def log_path(name: str) -> Path:
    return log_dir() / f"{name}.log"


def start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name in field 2 may contain spaces, so split after ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def processes_with(marker: str) -> list[int]:
    """PIDs whose command line contains `marker` as one argument (not our own process)."""
    wanted = marker.encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in argv:
            found.append(int(proc.name))
    return sorted(found)


@dataclass(frozen=True)
class Managed:
    """One daemon known by name (e.g. `kube-apiserver`).

    `marker` names one command-line argument only our instance carries (its binary path under
    the kflow cache, or a path under our state directory). It lets us recognise our daemon when
    its PID file was lost or overwritten — e.g. by a session that crashed mid-start — so such
    an orphan is adopted and stopped rather than left holding a port.
    """

    name: str
    marker: Callable[[], str]

    @property
    def pid_file(self) -> Path:
        return pid_dir() / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The PID of our running instance (recorded, or adopted by its marker), else None."""
        try:
            pid_text, started = self.pid_file.read_text().split()
            if start_time(int(pid_text)) == started:
                return int(pid_text)
        except (OSError, ValueError):
            pass
        candidates = processes_with(self.marker())
        if not candidates:
            return None
        adopted = candidates[0]
        pid_dir().mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{adopted} {start_time(adopted)}\n")
        return adopted

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _alive(pid)

    def start(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> int:
        pid_dir().mkdir(parents=True, exist_ok=True)
        log_dir().mkdir(parents=True, exist_ok=True)
        with open(log_path(self.name), "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        started = start_time(proc.pid)
        self.pid_file.write_text(f"{proc.pid} {started}\n")
        return proc.pid

    def stop(self, grace_seconds: float = 10.0) -> bool:
        """SIGTERM, then SIGKILL after the grace period; True if something was stopped.

        Repeats for duplicates carrying our marker (two sessions racing to start one daemon).
        """
        stopped = False
        for _ in range(5):
            pid = self.pid()
            if pid is None:
                break
            _stop_pid(pid, grace_seconds)
            self.pid_file.unlink(missing_ok=True)
            stopped = True
        return stopped

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = log_path(self.name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _alive(pid: int) -> bool:
    """True unless the process is gone or a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stop_pid(pid: int, grace_seconds: float) -> None:
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if _alive(pid):
        _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
    _reap(pid)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status when the daemon is our own child (same process started it)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_for(
    condition_name: str,
    check: Callable[[], bool],
    timeout: float,
    process: Managed | None = None,
    interval: float = 0.2,
) -> None:
    """Poll `check` until true; fail with the daemon's log tail when it died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and not process.running():
            raise ClusterStartError(
                f"{process.name} exited while waiting for {condition_name}; "
                f"last lines of {log_path(process.name)}:\n{process.log_tail()}"
            )
        time.sleep(interval)
    tail = f"\nlast lines of {log_path(process.name)}:\n{process.log_tail()}" if process else ""
    raise ClusterStartError(f"timed out after {timeout:.0f}s waiting for {condition_name}{tail}")


class ClusterStartError(RuntimeError):
    """A tier of the local cluster did not come up; the message says which part and why."""
