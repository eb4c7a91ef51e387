"""Running one workload as a fresh process and observing it from outside.

Wall time is taken by the parent from spawn to exit, so interpreter start-up, imports, any
server a framework starts and everything it does at exit are all counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORKLOAD = Path(__file__).with_name("workload.py")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Sample:
    wall_seconds: float
    #: High-water RSS of the workload process itself, as it reports it (its servers are
    #: separate processes: see `tree_peak_rss_bytes`).
    peak_rss_bytes: int
    output: dict[str, Any]
    #: Only when sampled: peak of the summed RSS of the process and all its descendants.
    tree_peak_rss_bytes: int | None = None
    #: Only when sampled: how many distinct processes the workload's tree ever held.
    processes_seen: int | None = None


class WorkloadFailed(RuntimeError):
    pass


def run_workload(
    python: Path,
    framework: str,
    scenario: str,
    count: int,
    env: dict[str, str],
    log_path: Path,
    timeout_seconds: float,
    sample_tree: bool = False,
) -> Sample:
    """Run workload.py in a fresh interpreter; raise WorkloadFailed with its log on error."""
    command = [str(python), str(WORKLOAD), framework, scenario, str(count)]
    stdout_path = log_path.with_suffix(".stdout")
    with log_path.open("w") as log, stdout_path.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=log, cwd=log_path.parent)
    sampler = _TreeSampler(process.pid) if sample_tree else None
    if sampler:
        sampler.start()
    try:
        process.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise WorkloadFailed(
            f"{framework} {scenario} {count} exceeded {timeout_seconds:.0f} s; log: {log_path}"
        ) from None
    finally:
        if sampler:
            sampler.stop()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise WorkloadFailed(
            f"{framework} {scenario} {count} exited {process.returncode}; log: {log_path}\n"
            + log_path.read_text()[-3000:]
        )
    lines = stdout_path.read_text().strip().splitlines()
    if not lines:
        raise WorkloadFailed(f"{framework} {scenario} {count} printed no result; log: {log_path}")
    output = json.loads(lines[-1])
    return Sample(
        wall_seconds=wall,
        peak_rss_bytes=int(output["peak_rss_bytes"]),
        output=output,
        tree_peak_rss_bytes=sampler.peak_rss_bytes if sampler else None,
        processes_seen=len(sampler.pids_seen) if sampler else None,
    )


class _TreeSampler(threading.Thread):
    """Polls /proc for the workload's process tree: total RSS and every PID it ever held."""

    _INTERVAL_SECONDS = 0.02

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self._root = root_pid
        self._stopping = threading.Event()
        self.peak_rss_bytes = 0
        self.pids_seen: set[int] = set()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)

    def run(self) -> None:
        while not self._stopping.is_set():
            tree = self._tree()
            self.pids_seen |= tree
            total = sum(_rss_bytes(pid) for pid in tree)
            self.peak_rss_bytes = max(self.peak_rss_bytes, total)
            self._stopping.wait(self._INTERVAL_SECONDS)

    def _tree(self) -> set[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            parent = _parent_pid(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
        tree, frontier = set(), [self._root]
        while frontier:
            pid = frontier.pop()
            if pid in tree:
                continue
            tree.add(pid)
            frontier.extend(children.get(pid, []))
        return tree


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields start after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0
