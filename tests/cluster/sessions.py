"""Sharing one local cluster between concurrent pytest sessions and the command line.

Several test sessions may run at once on one machine. Each holds a lease (a file naming its
PID and start time) while it uses the cluster; the tiers sessions started are recorded in a
shared file. The last session out stops what sessions started; what a person started with
`cluster-up` is theirs and is never stopped by a session. One lock file serialises bring-up,
teardown and those records.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from tests.cluster import paths
from tests.cluster.processes import start_time


def _dir() -> Path:
    directory = paths.cache_root() / "cluster-sessions"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@contextlib.contextmanager
def cluster_lock() -> Iterator[None]:
    with open(_dir() / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _lease_name(pid: int) -> str:
    return f"{pid}-{start_time(pid)}.lease"


def take_lease() -> None:
    (_dir() / _lease_name(os.getpid())).touch()


def drop_lease() -> None:
    (_dir() / _lease_name(os.getpid())).unlink(missing_ok=True)


def other_leases() -> list[int]:
    """PIDs of other live sessions holding a lease; stale leases are removed."""
    mine = _lease_name(os.getpid())
    live = []
    for lease in _dir().glob("*.lease"):
        if lease.name == mine:
            continue
        pid_text, started = lease.name.removesuffix(".lease").split("-", 1)
        if start_time(int(pid_text)) == started:
            live.append(int(pid_text))
        else:
            lease.unlink(missing_ok=True)
    return live


def _record() -> Path:
    return _dir() / "started-by-sessions.json"


def started_by_sessions() -> set[str]:
    try:
        return set(json.loads(_record().read_text()))
    except (OSError, ValueError):
        return set()


def add_started(names: list[str]) -> None:
    _record().write_text(json.dumps(sorted(started_by_sessions() | set(names))))


def forget_started(names: set[str] | None = None) -> None:
    """Hand daemons over to the user (all of them when `names` is None)."""
    remaining = set() if names is None else started_by_sessions() - names
    _record().write_text(json.dumps(sorted(remaining)))
