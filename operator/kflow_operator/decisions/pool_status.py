"""A WorkPool's status as its workers keep it: their own entries with heartbeats, the live
count, the pool's runs by state, its late runs and its Ready condition — and which of its due
runs must say that no worker serves the pool.

Pure: the operator's pool loop (workers.py) builds the values from the objects, asks here, and
writes what comes back. Every function takes `now`, so tests move the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kflow.resources import format_timestamp, parse_timestamp
from kflow.states import StateType
from kflow.transitions import AWAITING_RETRY

AWAITING_WORKER_NAME = "AwaitingWorker"
READY = "Ready"
WORKERS_LIVE = "WorkersLive"
NO_WORKERS = "NoWorkers"
PAUSED = "Paused"

PRUNE_AFTER_TIMEOUTS = 10
"""An entry whose heartbeat is older than this many timeouts is dropped by the next heartbeat
of any worker: its operator is gone without saying so (SIGKILL, a lost node)."""
LATE_MARGIN = timedelta(seconds=15)
"""A due run not started this long after its scheduled time is late (Prefect's default)."""
KEPT_NAMES = frozenset({AWAITING_RETRY})
"""SCHEDULED names `AwaitingWorker` never replaces: a retry keeps saying it is one."""


@dataclass(frozen=True)
class WorkerTiming:
    heartbeat: timedelta
    """How often a worker renews its entry."""
    timeout: timedelta
    """A worker is live while its last heartbeat is younger than this."""

    @property
    def prune_after(self) -> timedelta:
        return self.timeout * PRUNE_AFTER_TIMEOUTS


@dataclass(frozen=True)
class Worker:
    """One entry of status.workers: an operator serving the pool."""

    identity: str
    last_heartbeat: datetime
    start_time: datetime | None = None
    version: str | None = None

    def to_status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "identity": self.identity,
            "lastHeartbeatTime": format_timestamp(self.last_heartbeat),
        }
        if self.start_time is not None:
            entry["startTime"] = format_timestamp(self.start_time)
        if self.version:
            entry["version"] = self.version[:64]
        return entry

    @classmethod
    def from_status(cls, raw: Mapping[str, Any]) -> Worker | None:
        """None for an entry that is not one (no identity or no readable heartbeat)."""
        try:
            started = raw.get("startTime")
            return cls(
                identity=str(raw["identity"]),
                last_heartbeat=parse_timestamp(str(raw["lastHeartbeatTime"])),
                start_time=parse_timestamp(str(started)) if started else None,
                version=raw.get("version"),
            )
        except (KeyError, ValueError):
            return None


def workers_of(status: Mapping[str, Any]) -> list[Worker]:
    found = (Worker.from_status(raw) for raw in status.get("workers") or [])
    return [worker for worker in found if worker is not None]


def with_heartbeat(
    workers: Sequence[Worker], own: Worker, timing: WorkerTiming, now: datetime
) -> list[Worker]:
    """status.workers after `own` beats: its entry replaced (or added), every other entry kept
    unless its heartbeat is older than `timing.prune_after`."""
    others = [
        w
        for w in workers
        if w.identity != own.identity and now - w.last_heartbeat <= timing.prune_after
    ]
    return sorted([*others, own], key=lambda w: w.identity)


def without(workers: Sequence[Worker], identity: str) -> list[Worker] | None:
    """status.workers once `identity` leaves; None when it has no entry (nothing to write)."""
    if all(w.identity != identity for w in workers):
        return None
    return [w for w in workers if w.identity != identity]


def live(workers: Iterable[Worker], timing: WorkerTiming, now: datetime) -> list[Worker]:
    return [w for w in workers if now - w.last_heartbeat < timing.timeout]


def last_heartbeat(workers: Iterable[Worker]) -> datetime | None:
    return max((w.last_heartbeat for w in workers), default=None)


@dataclass(frozen=True)
class PoolRun:
    """One FlowRun of the pool, as the pool's status sees it."""

    name: str
    state_type: StateType
    state_name: str | None
    state_message: str | None
    due_at: datetime
    """Its scheduled time, or its creation for a run-now run."""
    cancel_requested: bool = False

    def waits_since(self, now: datetime) -> bool:
        """Due and not started (nor about to be cancelled)."""
        return (
            self.state_type is StateType.SCHEDULED
            and not self.cancel_requested
            and self.due_at <= now
        )


@dataclass(frozen=True)
class PoolFacts:
    """What the pool's own object says."""

    namespace: str
    name: str
    created: datetime
    generation: int | None
    paused: bool
    workers: tuple[Worker, ...]
    last_heartbeat: datetime | None = None
    """status.lastHeartbeatTime: the newest heartbeat, also of workers that have left."""


def run_counts(runs: Iterable[PoolRun]) -> dict[str, int]:
    counts = {state.value.lower(): 0 for state in StateType}
    for run in runs:
        counts[run.state_type.value.lower()] += 1
    return counts


def late_runs(runs: Iterable[PoolRun], now: datetime) -> int:
    return sum(1 for run in runs if run.waits_since(now - LATE_MARGIN))


def newest_heartbeat(pool: PoolFacts) -> datetime | None:
    known = [t for t in (last_heartbeat(pool.workers), pool.last_heartbeat) if t is not None]
    return max(known, default=None)


def no_worker_message(pool: PoolFacts) -> str:
    last = newest_heartbeat(pool)
    when = format_timestamp(last, timespec="seconds") if last else "never"
    return (
        f"no worker is serving pool {pool.name} (last heartbeat {when}); start one: "
        f"kflow worker start --pool {pool.name} --namespace {pool.namespace}, "
        f"or an operator with --work-pool {pool.name}"
    )


def unserved(pool: PoolFacts, timing: WorkerTiming, now: datetime) -> bool:
    """No live worker for longer than the timeout: since the last heartbeat went stale, or,
    for a pool that never had one, since the pool was made."""
    since = newest_heartbeat(pool) or pool.created
    return now - since >= timing.timeout


def ready(pool: PoolFacts, timing: WorkerTiming, now: datetime) -> tuple[bool, str, str]:
    """The Ready condition: (status, reason, message)."""
    serving = live(pool.workers, timing, now)
    if pool.paused:
        message = f"pool {pool.name} is paused: none of its runs start until it is resumed"
        if not serving:
            message += f"; and {no_worker_message(pool)}"
        return False, PAUSED, message
    if not serving:
        return False, NO_WORKERS, no_worker_message(pool)
    count = len(serving)
    return True, WORKERS_LIVE, f"{count} live worker{'s' if count != 1 else ''}"


def condition(
    existing: Sequence[Mapping[str, Any]],
    wanted: tuple[bool, str, str],
    generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The conditions with Ready set; lastTransitionTime moves only when its status does."""
    flag, reason, message = wanted
    status = "True" if flag else "False"
    by_type = {str(c.get("type")): dict(c) for c in existing}
    old = by_type.get(READY)
    moved = old is None or old.get("status") != status or not old.get("lastTransitionTime")
    by_type[READY] = {
        "type": READY,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": format_timestamp(now) if moved else old["lastTransitionTime"],  # type: ignore[index]
        "observedGeneration": generation,
    }
    return [by_type[kind] for kind in sorted(by_type)]


def summary(
    pool: PoolFacts,
    status: Mapping[str, Any],
    runs: Sequence[PoolRun],
    timing: WorkerTiming,
    now: datetime,
) -> dict[str, Any]:
    """Every status field but `workers`, as they should read now."""
    return {
        "observedGeneration": pool.generation,
        "liveWorkers": len(live(pool.workers, timing, now)),
        "runCounts": run_counts(runs),
        "lateRuns": late_runs(runs, now),
        "conditions": condition(
            status.get("conditions") or [], ready(pool, timing, now), pool.generation, now
        ),
    }


def changed_fields(status: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `wanted` the status does not already hold."""
    return {key: value for key, value in wanted.items() if status.get(key) != value}


def awaiting_worker(
    pool: PoolFacts, runs: Iterable[PoolRun], timing: WorkerTiming, now: datetime
) -> tuple[str, list[PoolRun]]:
    """The message for runs left waiting by an unserved pool, and the due runs that do not say
    it yet (none while the pool has a live worker, or has been without one only briefly)."""
    message = no_worker_message(pool)
    if not unserved(pool, timing, now):
        return message, []
    return message, [
        run
        for run in runs
        if run.waits_since(now)
        and run.state_name not in KEPT_NAMES
        and (run.state_name, run.state_message) != (AWAITING_WORKER_NAME, message)
    ]
