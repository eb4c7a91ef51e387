"""How a FlowRun moves to a new state, as a status merge patch: the one builder every writer uses.

Three parties write a run's state and race through the API: the flow's own process
(`kflow.cluster.status.decide_status_patch`), the operator's supervisor
(`kflow_operator.decisions.supervised_run.state_patch`) and its scheduler (`write_run_state`).
Each reads the object, asks `build_state_patch` for the patch and writes it at the
resourceVersion it read; on a conflict it re-reads and asks again. What a state write contains
is decided here:

- a proposed state is applied only if the transition rule (kflow.transitions) accepts it from
  the current one, so an operator's CANCELLING is never overwritten by the flow's COMPLETED;
- `state.message` is null when the new state has none: a merge patch merges nested objects, so
  the previous state's message would otherwise stay under the new state;
- `stateHistory` gains one entry per accepted state and keeps the newest STATE_HISTORY_LIMIT;
- `runCount` grows when RUNNING is entered from anything but RUNNING or PAUSED (resuming a pause
  is the same attempt), `startTime` is the first RUNNING, `endTime` the time of an accepted
  terminal state;
- names and messages are cut to the CRD's limits by `truncate` (the state's message keeps more
  than a history entry's), and times are written by `format_timestamp`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kflow.resources.common import format_timestamp, parse_timestamp, truncate
from kflow.resources.flowrun import (
    HISTORY_MESSAGE_LIMIT,
    STATE_HISTORY_LIMIT,
    STATE_MESSAGE_LIMIT,
    STATE_NAME_LIMIT,
    StateHistoryEntry,
    StateRecord,
)
from kflow.resources.notifications import NotificationRecord
from kflow.states import TERMINAL_STATE_TYPES, StateType
from kflow.transitions import is_accepted

_UNKNOWN_TIME = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class StateEntry:
    """A state as a writer proposes it, and as `status.state` and `stateHistory` hold it."""

    type: StateType
    name: str
    message: str | None
    timestamp: datetime

    def to_status(self, message_limit: int = STATE_MESSAGE_LIMIT) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": self.type.value,
            "name": truncate(self.name, STATE_NAME_LIMIT),
            "timestamp": format_timestamp(self.timestamp),
        }
        if self.message:
            entry["message"] = truncate(self.message, message_limit)
        return entry

    @classmethod
    def from_status(cls, raw: Mapping[str, Any]) -> StateEntry:
        return cls(
            type=StateType(raw["type"]),
            name=str(raw.get("name") or raw["type"].title()),
            message=raw.get("message"),
            timestamp=_stored_time(raw.get("timestamp")),
        )


def _stored_time(raw: object) -> datetime:
    """A stored state's time; one that is missing reads as the epoch rather than failing."""
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, str) and raw:
        return parse_timestamp(raw)
    return _UNKNOWN_TIME


def current_state(status: Mapping[str, Any]) -> StateEntry | None:
    raw = status.get("state")
    if not isinstance(raw, Mapping) or not raw.get("type"):
        return None
    return StateEntry.from_status(raw)


TransitionRule = Callable[[StateEntry | None, StateEntry], bool]
"""Whether `proposed` may replace `current`; kflow.transitions.is_accepted is the real one."""


@dataclass(frozen=True)
class StatePatch:
    """A status merge patch plus, per proposed state, whether it was accepted."""

    patch: dict[str, Any]
    accepted: tuple[bool, ...]
    state: StateEntry | None
    """The run's state once the patch is written (the current one when nothing was accepted)."""


def build_state_patch(
    status: Mapping[str, Any],
    proposed: Sequence[StateEntry],
    accepts: TransitionRule = is_accepted,
) -> StatePatch:
    """The merge patch that moves a run with `status` through the `proposed` states, in order.

    A refused state is skipped and the next one is judged against the last accepted; the patch
    holds only the state fields (`state`, `stateHistory`, `runCount`, `startTime`, `endTime`)
    and is empty when nothing was accepted.
    """
    patch: dict[str, Any] = {}
    state = current_state(status)
    history: list[dict[str, Any]] = [dict(item) for item in status.get("stateHistory") or []]
    run_count = int(status.get("runCount") or 0)
    accepted: list[bool] = []
    for entry in proposed:
        ok = accepts(state, entry)
        accepted.append(ok)
        if not ok:
            continue
        if entry.type is StateType.RUNNING and (
            state is None or state.type not in (StateType.RUNNING, StateType.PAUSED)
        ):
            run_count += 1
            patch["runCount"] = run_count
            if not status.get("startTime") and "startTime" not in patch:
                patch["startTime"] = format_timestamp(entry.timestamp)
        if entry.type in TERMINAL_STATE_TYPES:
            patch["endTime"] = format_timestamp(entry.timestamp)
        history = bounded_history(history, entry)
        patch["stateHistory"] = history
        patch["state"] = {"message": None, **entry.to_status()}
        state = entry
    return StatePatch(patch=patch, accepted=tuple(accepted), state=state)


def patch_to_state(
    status: Mapping[str, Any], proposed: StateEntry, accepts: TransitionRule = is_accepted
) -> dict[str, Any] | None:
    """The merge patch that moves a run to one state; None when the rule refuses it from the
    current state (the caller re-reads and decides again)."""
    built = build_state_patch(status, [proposed], accepts)
    return built.patch if built.accepted[0] else None


def bounded_history(
    history: Sequence[Mapping[str, Any]], entry: StateEntry, limit: int = STATE_HISTORY_LIMIT
) -> list[dict[str, Any]]:
    """`stateHistory` with `entry` appended, the oldest entries dropped beyond `limit`."""
    return [*(dict(item) for item in history), entry.to_status(HISTORY_MESSAGE_LIMIT)][-limit:]


def append_state_history(
    history: Sequence[StateHistoryEntry], state: StateRecord, limit: int = STATE_HISTORY_LIMIT
) -> list[StateHistoryEntry]:
    """`bounded_history` for a caller holding parsed models rather than the raw status."""
    raw = [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in history]
    entry = StateEntry(state.type, state.name, state.message, state.timestamp)
    return [StateHistoryEntry.model_validate(item) for item in bounded_history(raw, entry, limit)]


def notifications_patch(records: Sequence[NotificationRecord]) -> dict[str, Any]:
    """The merge patch that records the run's notification deliveries (the whole list: a merge
    patch replaces lists, so it is written at the resourceVersion it was built from)."""
    return {
        "notifications": [
            record.model_dump(mode="json", by_alias=True, exclude_none=True) for record in records
        ]
    }
