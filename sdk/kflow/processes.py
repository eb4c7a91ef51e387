"""Which process is which: a PID plus its start time, so a reused PID never passes for the
process that was recorded.

One rule for every part of kflow that records a process and later looks for it again: the
operator's process launcher (design.md §5: `host/boot-id` scope, `PID@start-ticks` id) and the
local run history (a local run's process, to show a killed run as CRASHED and to let
`kflow flow-run cancel --local` signal exactly that process). The start time is field 22 of
/proc/PID/stat, in clock ticks since boot, so it only means something within one boot: the
boot id is recorded with it.

Linux only (/proc). Where /proc is missing, `proc_available()` is False and callers fall back
to what they can know without it.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROC = Path("/proc")


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


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/PID/stat kflow needs."""

    state: str
    start_ticks: int
    exit_code: int | None
    """The raw wait status of a zombie (`exit_code` field, Linux 3.5+); None otherwise."""


@cache
def proc_available() -> bool:
    """True where processes can be identified by start time (Linux with /proc mounted)."""
    return (PROC / "self" / "stat").exists()


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


@cache
def boot_id() -> str:
    """This boot's id: start ticks of an earlier boot say nothing about today's processes."""
    return (PROC / "sys/kernel/random/boot_id").read_text().strip()


def host_scope() -> str:
    """`hostname/boot-id`: the scope of every process this host runs until it reboots."""
    return f"{socket.gethostname()}/{boot_id()}"


def is_alive(process: ProcessId) -> bool:
    """True while the recorded process runs: same PID, same start time, not a zombie."""
    stat = read_proc_stat(process.pid)
    return stat is not None and stat.start_ticks == process.start_ticks and stat.state not in "ZX"


def signal_process(process: ProcessId, sig: signal.Signals) -> bool:
    """Signal exactly the recorded process; False when it is gone (or its PID reused).

    A pidfd pins the process while its start time is checked, so the PID cannot be recycled
    between the check and the signal.
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except ProcessLookupError:
        return False
    try:
        if not is_alive(process):
            return False
        signal.pidfd_send_signal(pidfd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(pidfd)
