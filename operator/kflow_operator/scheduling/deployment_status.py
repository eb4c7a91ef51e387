"""A Deployment's status as the scheduling pass writes it: what its schedules say, when it last
and next fires, its active runs, its last success, and its Ready/Scheduling conditions.

Written only when something in it changed, so a pass that finds nothing new costs no write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kflow.resources import format_timestamp, parse_timestamp
from kflow.states import StateType

from kflow_operator.scheduling.store import ScheduleApi

READY = "Ready"
SCHEDULING = "Scheduling"


def last_success(views: Any, status: Mapping[str, Any]) -> dict[str, Any]:
    completed = [v for v in views if v.state_type is StateType.COMPLETED and v.end_time]
    if not completed:
        return {}
    newest = max(completed, key=lambda v: v.end_time)
    previous = status.get("lastSuccessfulTime")
    if previous and parse_timestamp(previous) >= newest.end_time:
        return {}
    return {
        "lastSuccessfulRun": newest.name,
        "lastSuccessfulTime": format_timestamp(newest.end_time),
    }


def write_status(
    api: ScheduleApi,
    deployment: Mapping[str, Any],
    now: datetime,
    fields: Mapping[str, Any],
    ready: tuple[bool, str, str],
    scheduling: tuple[bool, str, str],
) -> None:
    meta = deployment["metadata"]
    status = deployment.get("status") or {}
    generation = meta.get("generation")
    conditions = _conditions(
        status.get("conditions") or [],
        generation,
        now,
        {
            READY: ready,
            SCHEDULING: scheduling,
        },
    )
    wanted = {**fields, "observedGeneration": generation, "conditions": conditions}
    if all(status.get(key) == value for key, value in wanted.items()):
        return
    api.patch_deployment_status(meta["namespace"], meta["name"], wanted)


def _conditions(
    existing: Sequence[Mapping[str, Any]],
    generation: int | None,
    now: datetime,
    wanted: Mapping[str, tuple[bool, str, str]],
) -> list[dict[str, Any]]:
    """Kubernetes-style conditions; lastTransitionTime moves only when the status does."""
    by_type = {c["type"]: dict(c) for c in existing}
    for kind, (flag, reason, message) in wanted.items():
        status = "True" if flag else "False"
        old = by_type.get(kind)
        changed = old is None or old.get("status") != status
        by_type[kind] = {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": format_timestamp(now) if changed else old["lastTransitionTime"],  # type: ignore[index]
            "observedGeneration": generation,
        }
    return [by_type[kind] for kind in sorted(by_type)]
