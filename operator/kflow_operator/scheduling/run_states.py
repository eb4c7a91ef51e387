"""The state writes of the scheduling pass and the launch gate on a Deployment's runs: held for
a concurrency slot, released from it, `Late`, `Skipped`.

Each goes through kflow.transitions and is made at the resourceVersion the decision was made on;
a refused transition or a run that moved meanwhile writes nothing (the next look decides again).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kflow.resources.status_patch import StateEntry, patch_to_state
from kflow.states import StateType

from kflow_operator.decisions.deployment_runs import LATE_NAME, SKIPPED_NAME
from kflow_operator.kubeapi import Body
from kflow_operator.scheduling.store import ScheduleApi


def write_run_state(
    api: ScheduleApi,
    body: Mapping[str, Any],
    state_type: StateType,
    name: str,
    message: str,
    now: datetime,
) -> Body | None:
    """Move a run to a state through kflow.transitions, at the resourceVersion read; the patch
    is kflow.resources.status_patch's, the builder every state writer uses.

    None when the transition is refused or the run moved meanwhile (decide again later).
    """
    meta = body["metadata"]
    patch = patch_to_state(body.get("status") or {}, StateEntry(state_type, name, message, now))
    if patch is None:
        return None
    return api.patch_run_status(meta["namespace"], meta["name"], patch, meta["resourceVersion"])


def skip_run(api: ScheduleApi, body: Mapping[str, Any], message: str, now: datetime) -> bool:
    """`Late` then `Skipped` (CANCELLED): a run that must not start ends visibly."""
    state = (body.get("status") or {}).get("state") or {}
    if state.get("name") != LATE_NAME:
        late = write_run_state(api, body, StateType.SCHEDULED, LATE_NAME, f"Late: {message}", now)
        if late is None:
            return False
        body = late
    skipped = write_run_state(
        api, body, StateType.CANCELLED, SKIPPED_NAME, f"Skipped: {message}", now
    )
    return skipped is not None
