"""The backend that keeps every local run in the SQLite history under KFLOW_HOME.

Why it buffers: a task run reports a creation and two or three states, and the engine's
budget per task is tens of microseconds, far less than one SQLite commit. Events are appended
to in-memory queues (no lock on the engine's side) and written in batches, one transaction
per batch:

* by a writer thread, `linger` seconds after a flow-run event (so `kflow flow-run ls` shows a
  run that is RUNNING while it is), at most `max_delay` seconds after a task event, and at
  once when `EAGER_BATCH` events wait;
* synchronously when a flow run pauses (another process may resume it only once it is seen);
* synchronously by `flush()`, which the engine calls when a top-level flow run has ended;
* at interpreter exit, so nothing reported is lost when a script ends without `flush()`.

A task run created and finished within one batch becomes a single INSERT carrying its final
state; its state history is kept in full.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kflow.backend import Backend, FlowRun, TaskRun, kflow_home
from kflow.exceptions import KflowException
from kflow.history import schema
from kflow.history.queries import FlowRunNotFound
from kflow.states import TERMINAL_STATE_TYPES, StateType

if TYPE_CHECKING:
    from kflow.states import State

logger = logging.getLogger("kflow.history")

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
_FLOW_RUN_INSERT = (
    "INSERT INTO flow_runs (id, name, flow_name, flow_version, parameters, tags,"
    " parent_flow_run_id, parent_task_run_id, created, scheduled_time, hostname, pid, "
    + ", ".join(_MUTABLE)
    + ") VALUES ("
    + ", ".join("?" * (12 + len(_MUTABLE)))
    + ") ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ("name", "parameters", *_MUTABLE))
)
_TASK_RUN_INSERT = (
    "INSERT OR IGNORE INTO task_runs (id, flow_run_id, name, task_name, task_key, dynamic_key,"
    " tags, child_flow_run_id, created, "
    + ", ".join(_MUTABLE)
    + ") VALUES ("
    + ", ".join("?" * (9 + len(_MUTABLE)))
    + ")"
)
_FLOW_RUN_UPDATE = (
    "UPDATE flow_runs SET " + ", ".join(f"{c} = ?" for c in _MUTABLE) + " WHERE id = ?"
)
_TASK_RUN_UPDATE = (
    "UPDATE task_runs SET "
    + ", ".join(f"{c} = ?" for c in _MUTABLE)
    + " WHERE flow_run_id = ? AND id = ?"
)
_FLOW_STATE_INSERT = (
    "INSERT INTO flow_run_states (flow_run_id, type, name, message, timestamp)"
    " VALUES (?, ?, ?, ?, ?)"
)
_TASK_STATE_INSERT = (
    "INSERT INTO task_run_states (flow_run_id, task_run_id, type, name, message, timestamp)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)

_FINAL_TYPES = frozenset(t.value for t in TERMINAL_STATE_TYPES)
# `StateType.X.value` is a Python-level property: a dict lookup costs a tenth of it.
_TYPE_VALUE = {t: t.value for t in StateType}
# A buffer this long wakes the writer at once, bounding memory in a flow with very many tasks.
# Shorter flows are written at their end or every `max_delay` seconds: writing while tasks
# run makes both threads wait on each other for the GIL at every row.
EAGER_BATCH = 50_000

# One event: the run, and either its creation time (a float) or a proposed state.
_Event = tuple[Any, "float | State[Any]"]


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


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_jsonable, sort_keys=True)


def _parameters_json(parameters: dict[str, Any]) -> str:
    """Parameters as JSON; a value JSON cannot hold (mixed key types, a cycle) as its repr."""
    try:
        return _to_json(parameters)
    except (TypeError, ValueError):
        shown: dict[str, Any] = {}
        for name, value in parameters.items():
            try:
                shown[name] = json.loads(_to_json(value))
            except (TypeError, ValueError):
                shown[name] = repr(value)
        return _to_json(shown)


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


class FlowRunNotResumable(KflowException, ValueError):
    """`resume_flow_run` was given a run that has already ended."""


class _Rows:
    """The SQL rows of one batch of events, one pass over the events."""

    __slots__ = ("inserts", "states", "updates")

    def __init__(self) -> None:
        self.inserts: list[tuple[Any, ...]] = []
        self.updates: list[tuple[Any, ...]] = []
        self.states: list[tuple[Any, ...]] = []


def _latest_per_run(events: list[_Event], state_row: Any) -> tuple[dict[str, list[Any]], list[Any]]:
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


def _flow_rows(events: list[_Event], hostname: str, pid: int) -> _Rows:
    rows = _Rows()
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
                    _parameters_json(run.parameters),
                    _to_json(run.tags),
                    run.parent_flow_run_id,
                    run.parent_task_run_id,
                    created,
                    run.scheduled_time,
                    hostname,
                    pid,
                    *columns,
                )
            )
        else:
            rows.updates.append((*columns, run_id))
    return rows


def _task_rows(events: list[_Event]) -> _Rows:
    rows = _Rows()
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
                    _to_json(task.tags) if task.tags else "[]",
                    task.child_flow_run_id,
                    created,
                    *columns,
                )
            )
        else:
            rows.updates.append((*columns, task.flow_run_id, run_id))
    return rows


class LocalHistoryBackend(Backend):
    """Records flow runs, task runs and their states in `$KFLOW_HOME/history.db`."""

    name = "local"

    def __init__(
        self, home: Path | None = None, *, linger: float = 0.05, max_delay: float = 1.0
    ) -> None:
        super().__init__()
        self.path = schema.database_path(home if home is not None else kflow_home())
        self._linger = linger
        self._max_delay = max_delay
        self._hostname = socket.gethostname()
        self._init_process_state()
        self._closed = False
        self_ref = weakref.ref(self)
        atexit.register(_flush_at_exit, self_ref)
        os.register_at_fork(after_in_child=lambda: _reset_in_child(self_ref))

    def _init_process_state(self) -> None:
        self._pid = os.getpid()
        # The hot path is one deque append: atomic, so engine threads never wait on a lock;
        # the writer drains from the other end.
        self._flow_events: deque[_Event] = deque()
        self._task_events: deque[_Event] = deque()
        self._writer_lock = threading.Lock()
        # `_pending`: there is something to write. `_hurry`: write it now, not in max_delay.
        self._pending = threading.Event()
        self._hurry = threading.Event()
        self._closing = threading.Event()
        self._write_lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._writer: threading.Thread | None = None
        self._last_error: str | None = None

    # -- events (engine side) ------------------------------------------------------------
    def create_flow_run(self, flow_run: FlowRun) -> None:
        self._flow_event(flow_run, time.time())

    def set_flow_run_state(self, flow_run: FlowRun, state: State[Any]) -> State[Any]:
        self._flow_event(flow_run, state)
        if state.type is StateType.PAUSED:
            # Whoever resumes the run (another process, `kflow flow-run inspect`) must see it.
            self.flush()
        return state

    def create_task_run(self, task_run: TaskRun) -> None:
        events = self._task_events
        events.append((task_run, time.time()))
        if not self._pending.is_set() or len(events) == EAGER_BATCH:
            self._wake_writer(hurry=len(events) >= EAGER_BATCH)

    def set_task_run_state(self, task_run: TaskRun, state: State[Any]) -> State[Any]:
        events = self._task_events
        events.append((task_run, state))
        if not self._pending.is_set() or len(events) == EAGER_BATCH:
            self._wake_writer(hurry=len(events) >= EAGER_BATCH)
        return state

    def _flow_event(self, flow_run: FlowRun, payload: float | State[Any]) -> None:
        self._flow_events.append((flow_run, payload))
        # Flow-run events are rare and users watch them: write them soon.
        self._wake_writer(hurry=True)

    def _wake_writer(self, *, hurry: bool) -> None:
        if self._closed:
            return
        if self._writer is None:
            with self._writer_lock:
                if self._writer is None:
                    self._writer = threading.Thread(
                        target=self._write_in_background, name="kflow-history-writer", daemon=True
                    )
                    self._writer.start()
        if hurry:
            self._hurry.set()
        self._pending.set()

    # -- outside control ------------------------------------------------------------------
    def resume_flow_run(self, flow_run_id: str) -> None:
        """Resume a paused run of this machine, from this process or any other.

        Refuses runs the history does not know or that have already ended, so a typo or a
        stale id is reported instead of leaving a resume flag nobody will read.
        """
        self.flush()
        with self._write_lock:
            row = (
                self._open()
                .execute("SELECT state_type FROM flow_runs WHERE id = ?", (flow_run_id,))
                .fetchone()
            )
        if row is None:
            raise FlowRunNotFound(
                f"no flow run with id {flow_run_id!r} in the local history at {self.path}; "
                f"`kflow flow-run ls` lists the runs it knows (set KFLOW_HOME if the run used "
                f"another directory)."
            )
        if row[0] in _FINAL_TYPES:
            raise FlowRunNotResumable(
                f"flow run {flow_run_id!r} has already ended in state {row[0]}; only a PAUSED "
                f"(or still running) flow run can be resumed."
            )
        super().resume_flow_run(flow_run_id)

    # -- writing -----------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything reported so far, in one transaction, before returning."""
        self._write_batch()

    def close(self) -> None:
        """Write what is left and stop the writer; never waits for the writer to wake up."""
        self._closed = True
        self._closing.set()
        self._hurry.set()
        self._pending.set()
        with self._write_lock:
            self._write_batch_locked()
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _write_in_background(self) -> None:
        while True:
            self._pending.wait()
            if self._closed:
                return
            self._pending.clear()
            if self._hurry.is_set():
                # A flow-run event usually comes with more: gather them into one commit.
                self._closing.wait(self._linger)
            else:
                self._hurry.wait(self._max_delay)
            self._hurry.clear()
            if self._closed:
                return
            self._write_batch()

    def _write_batch(self) -> None:
        with self._write_lock:
            self._write_batch_locked()

    def _write_batch_locked(self) -> None:
        # The events are taken while holding the write lock, so batches reach the database
        # in the order they were taken (an update never precedes the insert it refers to).
        flow_events = _drain(self._flow_events)
        task_events = _drain(self._task_events)
        if not flow_events and not task_events:
            return
        try:
            self._write(flow_events, task_events)
        except (sqlite3.Error, schema.HistoryDatabaseError) as exc:
            # Said once per distinct problem: a writer retrying every second must not flood
            # the console of a flow that otherwise runs fine.
            if str(exc) != self._last_error:
                self._last_error = str(exc)
                detail = (
                    str(exc)
                    if isinstance(exc, schema.HistoryDatabaseError)
                    else f"writing the run history at {self.path} failed: {exc}; check that "
                    f"the disk has space and the file is writable, or set KFLOW_HOME to another "
                    f"directory."
                )
                logger.error(
                    "%d flow-run and %d task-run events were not recorded: %s The runs "
                    "themselves are not affected.",
                    len(flow_events),
                    len(task_events),
                    detail,
                )

    def _open(self) -> sqlite3.Connection:
        """The connection, opened on first use; call with `_write_lock` held."""
        if self._connection is None:
            self._connection = schema.connect(self.path)
        return self._connection

    def _write(self, flow_events: list[_Event], task_events: list[_Event]) -> None:
        flow = _flow_rows(flow_events, self._hostname, self._pid)
        task = _task_rows(task_events)
        connection = self._open()
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement, rows in (
                (_FLOW_RUN_INSERT, flow.inserts),
                (_FLOW_RUN_UPDATE, flow.updates),
                (_FLOW_STATE_INSERT, flow.states),
                (_TASK_RUN_INSERT, task.inserts),
                (_TASK_RUN_UPDATE, task.updates),
                (_TASK_STATE_INSERT, task.states),
            ):
                if rows:
                    connection.executemany(statement, rows)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise


def _drain(events: deque[_Event]) -> list[_Event]:
    """Take every event queued so far; appends racing with this land in the next batch.

    Only a holder of the write lock drains, so the events counted are there to be taken.
    """
    take = events.popleft
    return [take() for _ in range(len(events))]


def _flush_at_exit(backend_ref: weakref.ref[LocalHistoryBackend]) -> None:
    backend = backend_ref()
    if backend is not None and backend._pid == os.getpid():
        backend.close()


def _reset_in_child(backend_ref: weakref.ref[LocalHistoryBackend]) -> None:
    """A forked child starts empty: the parent writes what it had buffered."""
    backend = backend_ref()
    if backend is not None:
        backend._init_process_state()
