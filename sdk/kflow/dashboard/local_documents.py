"""Runs of the local history (kflow.history) shaped like FlowRuns, so that `kflow dashboard
--local` shows them with the same pages: the run's id is its FlowRun name, in the namespace
`local`; its process is its infrastructure; states, task runs and the result are where a
FlowRun's status keeps them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kflow.cli.run_documents import timestamp
from kflow.resources import RECENT_TASK_RUNS_LIMIT, STATE_HISTORY_LIMIT

if TYPE_CHECKING:
    from kflow.history.queries import FlowRunRecord, HistoryState, TaskRunRecord

LOCAL_NAMESPACE = "local"


def state_entry(state: HistoryState) -> dict[str, Any]:
    return {
        "type": state.type,
        "name": state.name,
        "message": state.message,
        "timestamp": timestamp(state.timestamp),
    }


def task_run_entry(task: TaskRunRecord) -> dict[str, Any]:
    state = task.state
    return {
        "id": task.id,
        "name": task.name,
        "stateType": state.type if state else "PENDING",
        "stateName": state.name if state else None,
        "message": state.message if state else None,
        "runCount": task.run_count,
        "startTime": timestamp(task.start_time),
        "endTime": timestamp(task.end_time),
    }


def task_runs_status(tasks: Sequence[TaskRunRecord]) -> dict[str, Any]:
    """Counts by state and the most recently changed task runs, as a FlowRun's status has."""
    counts = Counter(t.state.type if t.state else "PENDING" for t in tasks)
    recent = sorted(tasks, key=lambda t: t.end_time or t.start_time or t.created, reverse=True)
    return {
        "total": len(tasks),
        "counts": dict(counts),
        "recent": [task_run_entry(t) for t in recent[:RECENT_TASK_RUNS_LIMIT]],
    }


def local_flow_run(
    run: FlowRunRecord,
    states: Sequence[HistoryState],
    tasks: Sequence[TaskRunRecord],
) -> dict[str, Any]:
    spec: dict[str, Any] = {"parameters": run.parameters, "tags": run.tags}
    if run.parent_flow_run_id:
        spec["parentRef"] = {"name": run.parent_flow_run_id}
    status: dict[str, Any] = {
        "runName": run.name,
        "flowName": run.flow_name,
        "stateHistory": [state_entry(s) for s in states[-STATE_HISTORY_LIMIT:]],
        "startTime": timestamp(run.start_time),
        "endTime": timestamp(run.end_time),
        "runCount": run.run_count,
        "infrastructure": {"type": "process", "pid": f"{run.hostname}:{run.pid}"},
        "taskRuns": task_runs_status(tasks),
    }
    if run.state is not None:
        status["state"] = state_entry(run.state)
    if run.result is not None:
        status["result"] = run.result
    return {
        "metadata": {
            "name": run.id,
            "namespace": LOCAL_NAMESPACE,
            "uid": run.id,
            "creationTimestamp": timestamp(run.created),
        },
        "spec": spec,
        "status": {k: v for k, v in status.items() if v is not None},
    }


def fingerprint(run: FlowRunRecord) -> tuple[Any, ...]:
    """What changes when a run's document must be rebuilt (a running run's task runs change
    without it: those are rebuilt on every look)."""
    state = run.state
    return (
        state.type if state else None,
        state.name if state else None,
        state.timestamp if state else None,
        run.end_time,
        run.run_count,
    )
