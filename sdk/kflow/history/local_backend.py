"""The backend that keeps every local run in the SQLite history under KFLOW_HOME.

Why it buffers: a task run reports a creation and two or three states, and the engine's
budget per task is tens of microseconds, far less than one SQLite commit. Events are appended
to in-memory buffers under one lock and written in batches, one transaction per batch:

* by a writer thread, shortly after a flow-run event (so `kflow flow-run ls` shows a run
  that is RUNNING or PAUSED while it is) and at most `max_delay` seconds after a task event;
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kflow.backend import Backend, FlowRun, TaskRun, kflow_home
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
    "UPDATE task_runs SET " + ", ".join(f"{c} = ?" for c in _MUTABLE) + " WHERE id = ?"
)
_FLOW_STATE_INSERT = (
    "INSERT INTO flow_run_states (flow_run_id, type, name, message, timestamp)"
    " VALUES (?, ?, ?, ?, ?)"
)
_TASK_STATE_INSERT = (
    "INSERT INTO task_run_states (task_run_id, type, name, message, timestamp)"
    " VALUES (?, ?, ?, ?, ?)"
)

_FINAL_TYPES = frozenset(t.value for t in TERMINAL_STATE_TYPES)
_Row = list[Any]
_StateRow = tuple[str, str, str, str | None, float]


class _Batch:
    """Everything reported since the last write, coalesced per run."""

    __slots__ = (
        "flow_inserts",
        "flow_states",
        "flow_updates",
        "task_inserts",
        "task_states",
        "task_updates",
    )

    def __init__(self) -> None:
        self.flow_inserts: dict[str, _Row] = {}
        self.flow_updates: dict[str, tuple[Any, ...]] = {}
        self.flow_states: list[_StateRow] = []
        self.task_inserts: dict[str, _Row] = {}
        self.task_updates: dict[str, tuple[Any, ...]] = {}
        self.task_states: list[_StateRow] = []

    def __bool__(self) -> bool:
        return bool(
            self.flow_inserts
            or self.flow_updates
            or self.flow_states
            or self.task_inserts
            or self.task_updates
            or self.task_states
        )


def _mutable_columns(run: FlowRun | TaskRun, state: State[Any] | None) -> tuple[Any, ...]:
    start, end = run.start_time, run.end_time
    if state is None:
        return (start, end, run.run_count, None, None, None, None)
    if start is None and state.type is StateType.RUNNING:
        start = state.timestamp
    if end is None and state.is_final():
        end = state.timestamp
    return (start, end, run.run_count, state.type.value, state.name, state.message, state.timestamp)


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_jsonable, sort_keys=True)


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
        self._cond = threading.Condition(threading.Lock())
        self._batch = _Batch()
        self._pending = False
        self._urgent = False
        self._write_lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._writer: threading.Thread | None = None

    # -- events (engine side) ------------------------------------------------------------
    def create_flow_run(self, flow_run: FlowRun) -> None:
        row: _Row = [
            flow_run.id,
            flow_run.name,
            flow_run.flow_name,
            flow_run.flow_version,
            _to_json(flow_run.parameters),
            _to_json(flow_run.tags),
            flow_run.parent_flow_run_id,
            flow_run.parent_task_run_id,
            time.time(),
            flow_run.scheduled_time,
            self._hostname,
            self._pid,
            *_mutable_columns(flow_run, flow_run.state),
        ]
        with self._cond:
            self._batch.flow_inserts[flow_run.id] = row
            self._mark_pending(urgent=True)

    def set_flow_run_state(self, flow_run: FlowRun, state: State[Any]) -> State[Any]:
        columns = _mutable_columns(flow_run, state)
        state_row = (flow_run.id, state.type.value, state.name, state.message, state.timestamp)
        with self._cond:
            batch = self._batch
            batch.flow_states.append(state_row)
            inserted = batch.flow_inserts.get(flow_run.id)
            if inserted is not None:
                inserted[1] = flow_run.name
                inserted[-len(_MUTABLE) :] = columns
            else:
                batch.flow_updates[flow_run.id] = columns
            self._mark_pending(urgent=True)
        if state.type is StateType.PAUSED:
            # Whoever resumes the run (another process, `kflow flow-run inspect`) must see it.
            self.flush()
        return state

    def create_task_run(self, task_run: TaskRun) -> None:
        row: _Row = [
            task_run.id,
            task_run.flow_run_id,
            task_run.name,
            task_run.task_name,
            task_run.task_key,
            task_run.dynamic_key,
            _to_json(task_run.tags) if task_run.tags else "[]",
            task_run.child_flow_run_id,
            time.time(),
            *_mutable_columns(task_run, task_run.state),
        ]
        with self._cond:
            self._batch.task_inserts[task_run.id] = row
            if not self._pending:
                self._mark_pending(urgent=False)

    def set_task_run_state(self, task_run: TaskRun, state: State[Any]) -> State[Any]:
        columns = _mutable_columns(task_run, state)
        state_row = (task_run.id, state.type.value, state.name, state.message, state.timestamp)
        with self._cond:
            batch = self._batch
            batch.task_states.append(state_row)
            inserted = batch.task_inserts.get(task_run.id)
            if inserted is not None:
                inserted[-len(_MUTABLE) :] = columns
            else:
                batch.task_updates[task_run.id] = columns
            if not self._pending:
                self._mark_pending(urgent=False)
        return state

    def _mark_pending(self, *, urgent: bool) -> None:
        """Called with `_cond` held: wake the writer (starting it on first use)."""
        if self._closed:
            return
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_in_background, name="kflow-history-writer", daemon=True
            )
            self._writer.start()
        first = not self._pending
        self._pending = True
        if urgent and not self._urgent:
            self._urgent = True
            self._cond.notify()
        elif first:
            self._cond.notify()

    # -- outside control ------------------------------------------------------------------
    def resume_flow_run(self, flow_run_id: str) -> None:
        """Resume a paused run of this machine, from this process or any other.

        Refuses runs the history does not know or that have already ended, so a typo or a
        stale id is reported instead of leaving a resume flag nobody will read.
        """
        self.flush()
        with self._write_lock:
            connection = self._connection
            if connection is None:
                connection = self._connection = schema.connect(self.path)
            row = connection.execute(
                "SELECT state_type FROM flow_runs WHERE id = ?", (flow_run_id,)
            ).fetchone()
        if row is None:
            raise FlowRunNotFound(
                f"no flow run with id {flow_run_id!r} in the local history at {self.path}; "
                f"`kflow flow-run ls` lists the runs it knows (set KFLOW_HOME if the run used "
                f"another directory)."
            )
        if row[0] in _FINAL_TYPES:
            raise ValueError(
                f"flow run {flow_run_id!r} has already ended in state {row[0]}; only a PAUSED "
                f"(or still running) flow run can be resumed."
            )
        super().resume_flow_run(flow_run_id)

    # -- writing -----------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything reported so far, in one transaction, before returning."""
        self._write_batch()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout=5)
        self._write_batch()
        with self._write_lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _write_in_background(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                deadline = time.monotonic() + self._max_delay
                while not self._urgent and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                urgent = self._urgent
            if urgent:
                # A flow-run event usually comes with more: gather them into one commit.
                time.sleep(self._linger)
            self._write_batch()

    def _write_batch(self) -> None:
        # The batch is taken while holding the write lock, so batches reach the database
        # in the order they were taken (an update never precedes the insert it refers to).
        with self._write_lock:
            with self._cond:
                batch = self._batch
                self._batch = _Batch()
                self._pending = False
                self._urgent = False
            if not batch:
                return
            try:
                self._write(batch)
            except (sqlite3.Error, schema.HistoryDatabaseError) as exc:
                logger.error(
                    "kflow could not write %d flow-run and %d task-run events to the run "
                    "history at %s: %s. The runs themselves are not affected; check that the "
                    "directory is writable and the disk has space, or set KFLOW_HOME.",
                    len(batch.flow_states) + len(batch.flow_inserts),
                    len(batch.task_states) + len(batch.task_inserts),
                    self.path,
                    exc,
                )

    def _write(self, batch: _Batch) -> None:
        connection = self._connection
        if connection is None:
            connection = self._connection = schema.connect(self.path)
        connection.execute("BEGIN IMMEDIATE")
        try:
            if batch.flow_inserts:
                connection.executemany(_FLOW_RUN_INSERT, batch.flow_inserts.values())
            if batch.flow_updates:
                connection.executemany(
                    _FLOW_RUN_UPDATE, [(*c, i) for i, c in batch.flow_updates.items()]
                )
            if batch.flow_states:
                connection.executemany(_FLOW_STATE_INSERT, batch.flow_states)
            if batch.task_inserts:
                connection.executemany(_TASK_RUN_INSERT, batch.task_inserts.values())
            if batch.task_updates:
                connection.executemany(
                    _TASK_RUN_UPDATE, [(*c, i) for i, c in batch.task_updates.items()]
                )
            if batch.task_states:
                connection.executemany(_TASK_STATE_INSERT, batch.task_states)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise


def _flush_at_exit(backend_ref: weakref.ref[LocalHistoryBackend]) -> None:
    backend = backend_ref()
    if backend is not None and backend._pid == os.getpid():
        backend.close()


def _reset_in_child(backend_ref: weakref.ref[LocalHistoryBackend]) -> None:
    """A forked child starts empty: the parent writes what it had buffered."""
    backend = backend_ref()
    if backend is not None:
        backend._init_process_state()
