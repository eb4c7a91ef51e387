"""Local history records as plain documents: what `-o json|yaml` prints for local runs.

Times are RFC 3339 in UTC, as a FlowRun's status has them; ids, names and states as the
table shows them.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kflow.history.queries import FlowRunRecord, HistoryState, TaskRunRecord


def timestamp(value: float | None) -> str | None:
    if value is None:
        return None
    return (
        datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def state_document(state: HistoryState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "type": state.type,
        "name": state.name,
        "message": state.message,
        "timestamp": timestamp(state.timestamp),
    }


def flow_run_document(run: FlowRunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "flowName": run.flow_name,
        "flowVersion": run.flow_version,
        "state": state_document(run.state),
        "parameters": run.parameters,
        "tags": run.tags,
        "parentFlowRunId": run.parent_flow_run_id,
        "parentTaskRunId": run.parent_task_run_id,
        "created": timestamp(run.created),
        "startTime": timestamp(run.start_time),
        "endTime": timestamp(run.end_time),
        "runCount": run.run_count,
        "process": {"host": run.hostname, "pid": run.pid},
        "result": run.result,
    }


def task_run_document(task: TaskRunRecord) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.name,
        "taskKey": task.task_key,
        "dynamicKey": task.dynamic_key,
        "state": state_document(task.state),
        "startTime": timestamp(task.start_time),
        "endTime": timestamp(task.end_time),
        "runCount": task.run_count,
        "childFlowRunId": task.child_flow_run_id,
    }


def state_counts(states: list[HistoryState | None]) -> dict[str, int]:
    """How many are in each state type ("NONE": no state yet), by type name."""
    counts = Counter(s.type if s is not None else "NONE" for s in states)
    return dict(sorted(counts.items()))
