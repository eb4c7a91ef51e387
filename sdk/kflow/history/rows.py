"""The SQL rows of one batch of history events: a pure translation, one pass over the events.

A run created and finished within one batch becomes a single INSERT carrying its final state;
every state is kept in the state tables in the order it was reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kflow.states import TERMINAL_STATE_TYPES, StateType

if TYPE_CHECKING:
    from kflow.backend import FlowRun, TaskRun
    from kflow.states import State

# Positions of the mutable columns at the end of a flow-run / task-run insert row.
_MUTABLE = (
    "start_time",
    "end_time",
    "run_count",
    "state_type",
    "state_name",
    "state_message",
    "state_timestamp",
)
_FLOW_RUN_FIXED = (
    "id",
    "name",
    "flow_name",
    "flow_version",
    "parameters",
    "tags",
    "parent_flow_run_id",
    "parent_task_run_id",
    "created",
    "scheduled_time",
    "hostname",
    "pid",
    "boot_id",
    "process_start_ticks",
)
FLOW_RUN_INSERT = (
    f"INSERT INTO flow_runs ({', '.join(_FLOW_RUN_FIXED + _MUTABLE)}) VALUES ("
    + ", ".join("?" * (len(_FLOW_RUN_FIXED) + len(_MUTABLE)))
    + ") ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ("name", "parameters", *_MUTABLE))
)
TASK_RUN_INSERT = (
    "INSERT OR IGNORE INTO task_runs (id, flow_run_id, name, task_name, task_key, dynamic_key,"
    " tags, child_flow_run_id, created, "
    + ", ".join(_MUTABLE)
    + ") VALUES ("
    + ", ".join("?" * (9 + len(_MUTABLE)))
    + ")"
)
FLOW_RUN_UPDATE = (
    "UPDATE flow_runs SET " + ", ".join(f"{c} = ?" for c in _MUTABLE) + " WHERE id = ?"
)
TASK_RUN_UPDATE = (
    "UPDATE task_runs SET "
    + ", ".join(f"{c} = ?" for c in _MUTABLE)
    + " WHERE flow_run_id = ? AND id = ?"
)
FLOW_STATE_INSERT = (
    "INSERT INTO flow_run_states (flow_run_id, type, name, message, timestamp)"
    " VALUES (?, ?, ?, ?, ?)"
)
TASK_STATE_INSERT = (
    "INSERT INTO task_run_states (flow_run_id, task_run_id, type, name, message, timestamp)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
FLOW_RESULT_UPDATE = "UPDATE flow_runs SET result = ? WHERE id = ?"

FINAL_TYPES = frozenset(t.value for t in TERMINAL_STATE_TYPES)
# `StateType.X.value` is a Python-level property: a dict lookup costs a tenth of it.
_TYPE_VALUE = {t: t.value for t in StateType}

# One event: the run, and either its creation time (a float) or a proposed state.
Event = tuple[Any, "float | State[Any]"]


@dataclass(frozen=True)
class RecordingProcess:
    """The process that records runs: where `kflow flow-run` looks for it later."""

    hostname: str
    pid: int
    boot_id: str | None
    start_ticks: int | None


def _mutable_columns(run: FlowRun | TaskRun, state: State[Any] | None) -> tuple[Any, ...]:
    start, end = run.start_time, run.end_time
    if state is None:
        return (start, end, run.run_count, None, None, None, None)
    state_type = state.type
    if start is None and state_type is StateType.RUNNING:
        start = state.timestamp
    if end is None and state_type in TERMINAL_STATE_TYPES:
        end = state.timestamp
    return (
        start,
        end,
        run.run_count,
        _TYPE_VALUE[state_type],
        state.name,
        state.message,
        state.timestamp,
    )


def to_json(value: Any) -> str:
    return json.dumps(value, default=_jsonable, sort_keys=True)


def parameters_json(parameters: dict[str, Any]) -> str:
    """Parameters as JSON; a value JSON cannot hold (mixed key types, a cycle) as its repr."""
    try:
        return to_json(parameters)
    except (TypeError, ValueError):
        shown: dict[str, Any] = {}
        for name, value in parameters.items():
            try:
                shown[name] = json.loads(to_json(value))
            except (TypeError, ValueError):
                shown[name] = repr(value)
        return to_json(shown)


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


class Rows:
    """The SQL rows of one batch of events."""

    __slots__ = ("inserts", "states", "updates")

    def __init__(self) -> None:
        self.inserts: list[tuple[Any, ...]] = []
        self.updates: list[tuple[Any, ...]] = []
        self.states: list[tuple[Any, ...]] = []


def _latest_per_run(events: list[Event], state_row: Any) -> tuple[dict[str, list[Any]], list[Any]]:
    """Per run id: [run, creation time or None, last state or None]; and every state's row."""
    latest: dict[str, list[Any]] = {}
    states: list[Any] = []
    for run, payload in events:
        entry = latest.get(run.id)
        if entry is None:
            entry = latest[run.id] = [run, None, None]
        if payload.__class__ is float:
            entry[1] = payload
        else:
            entry[2] = payload
            states.append(state_row(run, payload))
    return latest, states


def _flow_state_row(run: FlowRun, s: State[Any]) -> tuple[Any, ...]:
    return (run.id, _TYPE_VALUE[s.type], s.name, s.message, s.timestamp)


def _task_state_row(run: TaskRun, s: State[Any]) -> tuple[Any, ...]:
    return (run.flow_run_id, run.id, _TYPE_VALUE[s.type], s.name, s.message, s.timestamp)


def flow_rows(events: list[Event], process: RecordingProcess) -> Rows:
    rows = Rows()
    latest, rows.states = _latest_per_run(events, _flow_state_row)
    for run_id, (run, created, last) in latest.items():
        columns = _mutable_columns(run, last)
        if created is not None:
            rows.inserts.append(
                (
                    run_id,
                    run.name,
                    run.flow_name,
                    run.flow_version,
                    parameters_json(run.parameters),
                    to_json(run.tags),
                    run.parent_flow_run_id,
                    run.parent_task_run_id,
                    created,
                    run.scheduled_time,
                    process.hostname,
                    process.pid,
                    process.boot_id,
                    process.start_ticks,
                    *columns,
                )
            )
        else:
            rows.updates.append((*columns, run_id))
    return rows


def task_rows(events: list[Event]) -> Rows:
    rows = Rows()
    latest, rows.states = _latest_per_run(events, _task_state_row)
    for run_id, (task, created, last) in latest.items():
        columns = _mutable_columns(task, last)
        if created is not None:
            rows.inserts.append(
                (
                    run_id,
                    task.flow_run_id,
                    task.name,
                    task.task_name,
                    task.task_key,
                    task.dynamic_key,
                    to_json(task.tags) if task.tags else "[]",
                    task.child_flow_run_id,
                    created,
                    *columns,
                )
            )
        else:
            rows.updates.append((*columns, task.flow_run_id, run_id))
    return rows
