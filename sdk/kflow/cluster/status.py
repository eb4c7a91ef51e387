"""What the flow process writes into its FlowRun's status, decided without touching the API.

The writer thread re-reads the object on every conflict and calls `decide_status_patch` again.
Which state wins, and what a state write holds, is kflow.resources.status_patch's job (the same
builder the operator uses): a state the current one does not accept (an operator's CANCELLING
against the flow's RUNNING or COMPLETED) is dropped, never written over it. This module adds
what only the flow process reports: names, the pause, the result and the task-run tally.

Size is bounded by construction: a fixed number of history entries and recent task runs,
truncated messages and names, and results above a small limit written as a reference. The
object therefore stays a few tens of KiB whatever the number of task runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from kflow.resources.common import format_timestamp, truncate
from kflow.resources.flowrun import HISTORY_MESSAGE_LIMIT as MESSAGE_LIMIT
from kflow.resources.flowrun import RECENT_TASK_RUNS_LIMIT, STATE_NAME_LIMIT
from kflow.resources.status_patch import StateEntry, StatePatch, TransitionRule, build_state_patch
from kflow.states import TERMINAL_STATE_TYPES, StateType

NAME_LIMIT = 253
ID_LIMIT = 128


@dataclass
class PendingReport:
    """Everything the flow has said since the last successful write, in the order said."""

    states: list[StateEntry] = field(default_factory=list)
    run_name: str | None = None
    flow_name: str | None = None
    result: dict[str, Any] | None = None
    task_runs: dict[str, Any] | None = None
    pause: dict[str, Any] | None = None

    def is_empty(self) -> bool:
        return not self.states and all(
            value is None
            for value in (self.run_name, self.flow_name, self.result, self.task_runs, self.pause)
        )

    def absorb(self, newer: PendingReport) -> None:
        """Fold a later report into this one (newer scalars win, states keep their order)."""
        self.states.extend(newer.states)
        if newer.run_name is not None:
            self.run_name = newer.run_name
        if newer.flow_name is not None:
            self.flow_name = newer.flow_name
        if newer.pause is not None:
            self.pause = newer.pause
        if newer.result is not None:
            self.result = newer.result
        if newer.task_runs is not None:
            self.task_runs = newer.task_runs


def decide_status_patch(
    status: Mapping[str, Any], report: PendingReport, accepts: TransitionRule
) -> StatePatch:
    """The merge patch that applies `report` to `status`, given the current object: its states
    through kflow.resources.status_patch, then the fields only the flow process reports."""
    decided = build_state_patch(status, report.states, accepts)
    patch = dict(decided.patch)
    if report.run_name is not None and report.run_name != status.get("runName"):
        patch["runName"] = truncate(report.run_name, NAME_LIMIT)
    if report.flow_name is not None and report.flow_name != status.get("flowName"):
        patch["flowName"] = truncate(report.flow_name, NAME_LIMIT)
    if report.pause is not None:
        patch["pause"] = report.pause
    if report.result is not None:
        patch["result"] = report.result
    if report.task_runs is not None:
        patch["taskRuns"] = report.task_runs
    return replace(decided, patch=patch)


@dataclass(frozen=True)
class TaskRunEvent:
    """A task run's new state, as the engine reports it (`timestamp` in epoch seconds)."""

    id: str
    name: str
    state: StateType
    state_name: str
    timestamp: float
    message: str | None = None
    run_count: int | None = None


@dataclass
class _TaskRunView:
    name: str
    state: StateType
    state_name: str
    message: str | None
    run_count: int | None
    start_time: float | None
    end_time: float | None

    def to_status(self, task_run_id: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": truncate(task_run_id, ID_LIMIT),
            "name": truncate(self.name, NAME_LIMIT),
            "stateType": self.state.value,
            "stateName": truncate(self.state_name, STATE_NAME_LIMIT),
        }
        if self.message:
            entry["message"] = truncate(self.message, MESSAGE_LIMIT)
        if self.run_count is not None:
            entry["runCount"] = self.run_count
        if self.start_time is not None:
            entry["startTime"] = format_timestamp(datetime.fromtimestamp(self.start_time, UTC))
        if self.end_time is not None:
            entry["endTime"] = format_timestamp(datetime.fromtimestamp(self.end_time, UTC))
        return entry


class TaskRunTally:
    """Exact counts of task runs by current state, plus the most recently changed few.

    Memory grows with the number of task runs (one state each, needed to move a run's count
    from its old state to its new one); what goes into the status does not.
    """

    def __init__(self, recent_limit: int = RECENT_TASK_RUNS_LIMIT) -> None:
        self._recent_limit = recent_limit
        self._states: dict[str, StateType] = {}
        self._counts: dict[StateType, int] = dict.fromkeys(StateType, 0)
        self._recent: OrderedDict[str, _TaskRunView] = OrderedDict()
        self._unfinished_start_times: dict[str, float] = {}

    def record(self, event: TaskRunEvent) -> None:
        previous = self._states.get(event.id)
        if previous is not None:
            self._counts[previous] -= 1
        self._states[event.id] = event.state
        self._counts[event.state] += 1
        self._recent.pop(event.id, None)
        if event.state is StateType.RUNNING:
            self._unfinished_start_times.setdefault(event.id, event.timestamp)
        start_time = self._unfinished_start_times.get(event.id)
        end_time = None
        if event.state in TERMINAL_STATE_TYPES:
            end_time = event.timestamp
            self._unfinished_start_times.pop(event.id, None)
        self._recent[event.id] = _TaskRunView(
            name=event.name,
            state=event.state,
            state_name=event.state_name,
            message=event.message,
            run_count=event.run_count,
            start_time=start_time,
            end_time=end_time,
        )
        while len(self._recent) > self._recent_limit:
            self._recent.popitem(last=False)

    def summary(self) -> dict[str, Any]:
        """`status.taskRuns`: every state type is present, so a merge patch zeroes old counts.

        Recent runs are listed newest change first.
        """
        return {
            "total": len(self._states),
            "counts": {state.value: count for state, count in self._counts.items()},
            "recent": [view.to_status(key) for key, view in reversed(self._recent.items())],
        }
