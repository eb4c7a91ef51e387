"""How `kflow work-pool ls|inspect` show a WorkPool, as pure functions of the object.

A worker counts as live while its last heartbeat is younger than the operator's default
--worker-timeout-seconds, judged here from the heartbeat itself rather than from
`status.liveWorkers`: when every operator of a pool has died nobody rewrites that count, and
"is anything serving this pool?" is the question this command is asked most.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import yaml

from kflow.cluster.presentation import age, table
from kflow.resources.common import parse_timestamp

WORKER_TIMEOUT_SECONDS = 30
"""The operator's default --worker-timeout-seconds."""

RUN_COUNT_KEYS = (
    "scheduled", "pending", "running", "paused", "cancelling",
    "completed", "failed", "cancelled", "crashed",
)  # fmt: skip

WORK_POOL_HEADERS = (
    "NAME", "TYPE", "PAUSED", "LIMIT", "WORKERS", "RUNNING", "LATE", "READY", "AGE",
)  # fmt: skip


def workers(pool: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = (pool.get("status") or {}).get("workers") or []
    return [worker for worker in found if isinstance(worker, Mapping)]


def heartbeat_seconds(worker: Mapping[str, Any], now: datetime) -> float | None:
    beat = worker.get("lastHeartbeatTime")
    return (now - parse_timestamp(str(beat))).total_seconds() if beat else None


def is_live(worker: Mapping[str, Any], now: datetime) -> bool:
    seconds = heartbeat_seconds(worker, now)
    return seconds is not None and seconds < WORKER_TIMEOUT_SECONDS


def live_workers(pool: Mapping[str, Any], now: datetime) -> int:
    return sum(1 for worker in workers(pool) if is_live(worker, now))


def limit_label(spec: Mapping[str, Any]) -> str:
    limit = spec.get("concurrencyLimit")
    return "none" if limit is None else str(limit)


def ready_label(pool: Mapping[str, Any]) -> str:
    """`True`, or `False (NoWorkers)`; `-` before any operator has written the condition."""
    condition = _condition(pool, "Ready")
    if condition is None:
        return "-"
    status = str(condition.get("status") or "Unknown")
    reason = condition.get("reason")
    return f"{status} ({reason})" if reason and status != "True" else status


def work_pool_row(pool: Mapping[str, Any], now: datetime) -> list[str]:
    spec = pool.get("spec") or {}
    status = pool.get("status") or {}
    counts = status.get("runCounts") or {}
    return [
        str(pool["metadata"]["name"]),
        str(spec.get("type") or ""),
        "true" if spec.get("paused") else "false",
        limit_label(spec),
        str(live_workers(pool, now)),
        str(counts.get("running", 0)) if "runCounts" in status else "-",
        str(status.get("lateRuns", "-")),
        ready_label(pool),
        age(pool["metadata"].get("creationTimestamp"), now),
    ]


def work_pool_table(pools: Sequence[Mapping[str, Any]], now: datetime) -> str:
    rows = [work_pool_row(pool, now) for pool in sorted(pools, key=_name)]
    return table(WORK_POOL_HEADERS, rows)


def work_pool_details(
    pool: Mapping[str, Any], now: datetime, deployments: Sequence[str] = ()
) -> str:
    """`kflow work-pool inspect NAME`: the pool as a person reads it."""
    meta = pool.get("metadata") or {}
    spec = pool.get("spec") or {}
    status = pool.get("status") or {}
    limit = spec.get("concurrencyLimit")
    fields = [
        ("WorkPool", f"{meta.get('namespace')}/{meta.get('name')}"),
        ("Type", str(spec.get("type") or "-")),
        ("Description", str(spec.get("description") or "-")),
        ("Paused", _paused_label(spec)),
        ("Limit", _limit_sentence(limit)),
        ("Workers", f"{live_workers(pool, now)} live of {len(workers(pool))} recorded"),
        ("Late runs", str(status.get("lateRuns", "-"))),
        ("Deployments", ", ".join(deployments) or "-"),
        ("Created", str(meta.get("creationTimestamp") or "-")),
    ]
    width = max(len(label) for label, _ in fields)
    lines = [f"{label.ljust(width)}  {value}" for label, value in fields]
    lines.append("\nInfrastructure (what the pool's runs inherit)")
    lines.append(_indent(_infrastructure_yaml(spec.get("infrastructure"))))
    lines.append(f"\nWorkers ({len(workers(pool))}, live = heartbeat < {WORKER_TIMEOUT_SECONDS}s)")
    if workers(pool):
        rows = [_worker_row(worker, now) for worker in workers(pool)]
        lines.append(_indent(table(["IDENTITY", "HEARTBEAT", "LIVE", "STARTED", "VERSION"], rows)))
    else:
        lines.append(_indent(no_worker_sentence(str(meta.get("name")), str(meta.get("namespace")))))
    lines.append("\nRuns by state")
    lines.append(_indent(_run_counts(status.get("runCounts"))))
    conditions = status.get("conditions") or []
    lines.append(f"\nConditions ({len(conditions)})")
    if conditions:
        rows = [
            [str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason") or ""),
             str(c.get("lastTransitionTime") or ""), str(c.get("message") or "")]
            for c in conditions
        ]  # fmt: skip
        lines.append(_indent(table(["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"], rows)))
    return "\n".join(lines)


def no_worker_sentence(name: str, namespace: str) -> str:
    return (
        f"no worker has recorded a heartbeat: nothing serves pool {name}; start one with "
        f"`kflow worker start --pool {name} -n {namespace}` or run an operator that serves "
        "the namespace"
    )


def _worker_row(worker: Mapping[str, Any], now: datetime) -> list[str]:
    beat = worker.get("lastHeartbeatTime")
    return [
        str(worker.get("identity") or "?"),
        f"{age(str(beat), now)} ago" if beat else "never",
        "yes" if is_live(worker, now) else "no",
        str(worker.get("startTime") or "-"),
        str(worker.get("version") or "-"),
    ]


def _paused_label(spec: Mapping[str, Any]) -> str:
    if spec.get("paused"):
        return "yes: no run of the pool starts; due runs wait (PoolPaused)"
    return "no"


def _limit_sentence(limit: Any) -> str:
    if limit is None:
        return "none"
    if limit == 0:
        return "0: every run of the pool waits (AwaitingConcurrencySlot)"
    return f"{limit} runs at once across the pool's Deployments"


def _run_counts(counts: Mapping[str, Any] | None) -> str:
    if not counts:
        return "- (no operator has counted them yet)"
    shown = [f"{key} {counts[key]}" for key in RUN_COUNT_KEYS if counts.get(key)]
    return ", ".join(shown) or "none"


def _infrastructure_yaml(infrastructure: Any) -> str:
    if not infrastructure:
        return "- (nothing set: runs use their Deployment's settings and the operator's defaults)"
    return str(yaml.safe_dump(infrastructure, sort_keys=False)).rstrip()


def _condition(pool: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (pool.get("status") or {}).get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return condition
    return None


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _name(pool: Mapping[str, Any]) -> str:
    return str(pool["metadata"]["name"])
