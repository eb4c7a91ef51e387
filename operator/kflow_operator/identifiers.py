"""Infrastructure identifiers: where a run lives, as `scope:id` (DESIGN §5).

The scope says which operator may act on a run (its own host, Docker engine or cluster); the id
names the thing inside that scope. For processes the scope is the host name plus the boot id
(a reboot makes every PID meaningless) and the id is the PID plus the process start time in
clock ticks since boot, so a PID reused by another program never matches.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class InfrastructureId:
    """One run's infrastructure: its type (`process`, `docker`, `kubernetes-job`), scope, id."""

    type: str
    scope: str
    id: str

    @property
    def pid(self) -> str:
        return format_pid(self.scope, self.id)


def format_pid(scope: str, ident: str) -> str:
    """`scope:id`. Scopes may contain colons (`unix:///…`, `host:port`); ids never do."""
    if not scope or not ident:
        raise ValueError("an infrastructure identifier needs a non-empty scope and id")
    if ":" in ident:
        raise ValueError(f"an infrastructure id cannot contain ':' (got {ident!r})")
    return f"{scope}:{ident}"


def parse_pid(pid: str) -> tuple[str, str]:
    """Split `scope:id` at its last colon."""
    scope, sep, ident = pid.rpartition(":")
    if not sep or not scope or not ident:
        raise ValueError(
            f"infrastructure pid {pid!r} is not `scope:id` (e.g. `host/boot-id:1234@5678`)"
        )
    return scope, ident


@dataclass(frozen=True)
class ProcessId:
    """A process, told apart from later ones with the same PID by its start time."""

    pid: int
    start_ticks: int

    def format(self) -> str:
        return f"{self.pid}@{self.start_ticks}"

    @classmethod
    def parse(cls, text: str) -> ProcessId:
        pid, sep, ticks = text.partition("@")
        if not sep or not pid.isdigit() or not ticks.isdigit():
            raise ValueError(f"process id {text!r} is not `PID@START_TICKS` (e.g. `1234@5678`)")
        return cls(int(pid), int(ticks))


@cache
def host_scope() -> str:
    """`hostname/boot-id`: the scope of every process this host runs until it reboots."""
    boot_id = (PROC / "sys/kernel/random/boot_id").read_text().strip()
    return f"{socket.gethostname()}/{boot_id}"


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/PID/stat this module needs."""

    state: str
    start_ticks: int
    exit_code: int | None
    """The raw wait status of a zombie (`exit_code` field, Linux 3.5+); None otherwise."""


def read_proc_stat(pid: int) -> ProcStat | None:
    """None when no process has this PID."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may contain spaces or parentheses.
    fields = raw[raw.rindex(")") + 2 :].split()
    state = fields[0]
    start_ticks = int(fields[19])
    exit_code = int(fields[49]) if state in ("Z", "X") and len(fields) > 49 else None
    return ProcStat(state=state, start_ticks=start_ticks, exit_code=exit_code)


def process_id_of(pid: int) -> ProcessId:
    """The identity of a live process (e.g. a child just started)."""
    stat = read_proc_stat(pid)
    if stat is None:
        raise ProcessLookupError(f"no process with PID {pid}")
    return ProcessId(pid, stat.start_ticks)


def own_process_id() -> ProcessId:
    return process_id_of(os.getpid())
