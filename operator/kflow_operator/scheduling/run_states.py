"""The state writes of the scheduling pass and the launch gate on a Deployment's runs: held for
a concurrency slot, released from it, `Late`, `Skipped`.

Each goes through kflow.transitions and is made at the resourceVersion the decision was made on;
a refused transition or a run that moved meanwhile writes nothing (the next look decides again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kflow.resources import format_timestamp
from kflow.resources.flowrun import (
    HISTORY_MESSAGE_LIMIT,
    STATE_HISTORY_LIMIT,
    STATE_MESSAGE_LIMIT,
    truncate,
)
from kflow.states import TERMINAL_STATE_TYPES, StateType
from kflow.transitions import is_accepted

from kflow_operator.decisions.runs import LATE_NAME, SKIPPED_NAME
from kflow_operator.kubeapi import Body
from kflow_operator.scheduling.store import ScheduleApi


def _state_record(
    state_type: StateType, name: str, message: str, now: datetime, limit: int
) -> dict[str, Any]:
    return {
        "type": state_type.value,
        "name": name,
        "message": truncate(message, limit),
        "timestamp": format_timestamp(now),
    }


@dataclass(frozen=True)
class _StateView:
    type: StateType
    name: str


def write_run_state(
    api: ScheduleApi,
    body: Mapping[str, Any],
    state_type: StateType,
    name: str,
    message: str,
    now: datetime,
) -> Body | None:
    """Move a run to a state through kflow.transitions, at the resourceVersion read.

    None when the transition is refused or the run moved meanwhile (decide again later).
    """
    meta = body["metadata"]
    status = body.get("status") or {}
    current = status.get("state")
    current_view = (
        _StateView(StateType(current["type"]), current.get("name", "")) if current else None
    )
    if not is_accepted(current_view, _StateView(state_type, name)):
        return None
    record = _state_record(state_type, name, message, now, STATE_MESSAGE_LIMIT)
    entry = _state_record(state_type, name, message, now, HISTORY_MESSAGE_LIMIT)
    history = [*(status.get("stateHistory") or []), entry][-STATE_HISTORY_LIMIT:]
    patch: dict[str, Any] = {"state": record, "stateHistory": history}
    if state_type in TERMINAL_STATE_TYPES:
        patch["endTime"] = format_timestamp(now)
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
