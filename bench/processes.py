"""The processes the benchmarks observe through /proc: when one started, on the wall clock the
rest of a benchmark is timed with; whether it still runs; killing what a run left behind.

The kernel keeps a process's start time (field 22 of /proc/PID/stat) in clock ticks since boot,
counted on CLOCK_BOOTTIME. /proc/stat's `btime` gives the boot instant as a Unix time, but in
whole seconds (the kernel truncates it): up to a second early, so processes seemed to start
before they were asked for (`created -> infrastructure started, p50 -862 ms` on a host whose
btime was 0.88 s off). The boot instant used here is CLOCK_REALTIME - CLOCK_BOOTTIME, read when
converting: exact to microseconds, and it follows any step of the wall clock since boot.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from kflow.processes import ProcessId, is_alive, signal_process

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
START_TICK_SECONDS = 1 / CLOCK_TICKS_PER_SECOND
"""The resolution of a process's start time: 10 ms (USER_HZ is 100 on Linux). The kernel rounds
the start down to a tick, so a start time may read up to one tick before the true instant."""
_BOOT_EPOCH_SAMPLES = 3


def boot_epoch(realtime_before: float, boottime: float, realtime_after: float) -> float:
    """The boot instant as a Unix time, from CLOCK_BOOTTIME read between two CLOCK_REALTIME
    reads (their midpoint is the wall-clock time of the BOOTTIME read)."""
    return (realtime_before + realtime_after) / 2 - boottime


def start_epoch(
    start_ticks: int, boot: float, ticks_per_second: int = CLOCK_TICKS_PER_SECOND
) -> float:
    """A start time in clock ticks since boot as a Unix time, given the boot instant."""
    return boot + start_ticks / ticks_per_second


def read_boot_epoch() -> float:
    """The boot instant on the wall clock now. Of a few samples the one whose REALTIME reads
    are closest together is kept: a sample the scheduler interrupted is off by the pause."""
    samples = []
    for _ in range(_BOOT_EPOCH_SAMPLES):
        before = time.clock_gettime(time.CLOCK_REALTIME)
        boottime = time.clock_gettime(time.CLOCK_BOOTTIME)
        after = time.clock_gettime(time.CLOCK_REALTIME)
        samples.append((after - before, boot_epoch(before, boottime, after)))
    return min(samples)[1]


def process_start_epoch(process_id: str) -> float:
    """When the process named by a process launcher id (`PID@start-ticks`) was forked, as a
    Unix time (to a tick: see START_TICK_SECONDS)."""
    return start_epoch(ProcessId.parse(process_id).start_ticks, read_boot_epoch())


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 first); None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def process_alive(process_id: str) -> bool:
    """True while the process of a `PID@start-ticks` id runs (a zombie counts as gone): the
    process launcher's own rule, kflow.processes.is_alive."""
    return is_alive(ProcessId.parse(process_id))


def kill_process(process_id: str) -> None:
    """SIGKILL what a run left behind, only if the PID still names the same process."""
    with contextlib.suppress(OSError):
        signal_process(ProcessId.parse(process_id), signal.SIGKILL)
