"""The backend that keeps every local run in the SQLite history under KFLOW_HOME.

Why it buffers: a task run reports a creation and two or three states, and the engine's
budget per task is tens of microseconds, far less than one SQLite commit. Events are appended
to in-memory queues (no lock on the engine's side) and written in batches, one transaction
per batch:

* by a writer thread, `linger` seconds after a flow-run event (so `kflow flow-run ls` shows a
  run that is RUNNING while it is), at most `max_delay` seconds after a task event, and at
  once when `EAGER_BATCH` events wait;
* synchronously when a flow run pauses (another process may resume it only once it is seen);
* when a top-level flow run has ended (`top_level_run_ended`): its flow-run events at once,
  before its call returns, and the rest (task runs, log lines) by the writer right after, as
  Prefect 3's task-run events follow its flow's return; a reader in this process settles them
  first (kflow.history.pending);
* synchronously by `flush()`;
* at interpreter exit, so nothing reported is lost when a script ends without `flush()`.

A task run created and finished within one batch becomes a single INSERT carrying its final
state; its state history is kept in full (kflow.history.rows). Each flow run records the
process that runs it (host, boot id, PID, start time: kflow.processes), how its result is
shown (`encode_result`), and its log lines, bounded per run (kflow.history.run_logs).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import sqlite3
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kflow import processes
from kflow.backend import Backend, FlowRun, TaskRun, kflow_home
from kflow.exceptions import KflowException
from kflow.history import pending, rows, schema
from kflow.history.queries import FlowRunNotFound
from kflow.history.rows import Event, RecordingProcess
from kflow.history.run_logs import (
    LOG_INSERT,
    LOG_LINES_PER_RUN,
    LOG_MESSAGE_LIMIT,
    LogAllowance,
    LogEvent,
    LogRow,
    RunLogHandler,
    line_row,
    log_row,
)
from kflow.states import TERMINAL_STATE_TYPES, StateType

if TYPE_CHECKING:
    from kflow.log_lines import EngineLine
    from kflow.states import State

logger = logging.getLogger("kflow.history")
_T = TypeVar("_T")


# A buffer this long wakes the writer at once, bounding memory in a flow with very many tasks.
# Shorter flows are written at their end or every `max_delay` seconds: writing while tasks
# run makes both threads wait on each other for the GIL at every row.
EAGER_BATCH = 50_000


class FlowRunNotResumable(KflowException, ValueError):
    """`resume_flow_run` was given a run that has already ended."""


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
        self._init_process_state()
        self._closed = False
        self._log_handler = RunLogHandler(self)
        logging.getLogger("kflow").addHandler(self._log_handler)
        pending.register(self)
        self_ref = weakref.ref(self)
        atexit.register(_flush_at_exit, self_ref)
        os.register_at_fork(after_in_child=lambda: _reset_in_child(self_ref))

    def _init_process_state(self) -> None:
        self._pid = os.getpid()
        self._process = _recording_process()
        # The hot path is one deque append: atomic, so engine threads never wait on a lock;
        # the writer drains from the other end.
        self._flow_events: deque[Event] = deque()
        self._task_events: deque[Event] = deque()
        self._log_events: deque[LogEvent | LogRow] = deque()
        self._shown_results: deque[tuple[str, str]] = deque()
        self._logs_allowed = LogAllowance()
        self._ended_runs: set[str] = set()
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
        self._logs_allowed.open(flow_run.id)
        self._flow_event(flow_run, time.time())

    def set_flow_run_state(self, flow_run: FlowRun, state: State[Any]) -> State[Any]:
        if state.type is StateType.COMPLETED:
            self._keep_result(flow_run, state.data)
        self._flow_event(flow_run, state)
        if state.type in TERMINAL_STATE_TYPES:
            self._ended_runs.add(flow_run.id)
        elif state.type is StateType.PAUSED:
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

    def record_log(self, flow_run_id: str, record: logging.LogRecord) -> None:
        """A log record of one of this backend's runs (from its RunLogHandler)."""
        line = self._logs_allowed.take(flow_run_id)
        if line is None:
            return
        self._log_events.append((flow_run_id, line, record))
        if not self._pending.is_set():
            self._wake_writer(hurry=False)

    def record_line(self, flow_run_id: str, line: EngineLine) -> None:
        """An engine line of one of this backend's runs, kept as its row right away."""
        number = self._logs_allowed.take(flow_run_id)
        if number is None:
            return
        row = (
            flow_run_id,
            number,
            line.task_run_id,
            line.levelno,
            line.created,
            line.label,
            line.message,
        )
        if number > LOG_LINES_PER_RUN or len(line.message) > LOG_MESSAGE_LIMIT:
            # Only then does line_row change the row: the call is skipped for the three lines
            # of every task run.
            row = line_row(*row)
        self._log_events.append(row)
        if not self._pending.is_set():
            self._wake_writer(hurry=False)

    def _keep_result(self, flow_run: FlowRun, value: Any) -> None:
        """How `kflow flow-run inspect` shows the result, decided now: the value may change."""
        from kflow.results import encode_result

        store = flow_run.result_store or self.result_store()
        key = f"{flow_run.id}/flow"

        def persisted() -> str | None:
            return store.stored_at(key)

        try:
            shown = rows.to_json(encode_result(value, persisted))
        except Exception as exc:  # a repr or a property of the user's value that raises
            logger.warning("the result of flow run %s is not shown in the history: %s", key, exc)
            return
        self._shown_results.append((flow_run.id, shown))

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
        if row[0] in rows.FINAL_TYPES:
            raise FlowRunNotResumable(
                f"flow run {flow_run_id!r} has already ended in state {row[0]}; only a PAUSED "
                f"(or still running) flow run can be resumed."
            )
        super().resume_flow_run(flow_run_id)

    # -- writing -----------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything reported so far, in one transaction, before returning."""
        self.write_reported()
        self._close_ended_runs_logs()

    def top_level_run_ended(self) -> None:
        """The run's state is written before its call returns; its task runs and log lines
        (~15 us of SQLite per task run, most of a no-op task's cost) are written by the writer
        thread right after, so a caller does not wait on the disk for them."""
        with self._write_lock:
            self._write_batch_locked(runs_only=True)
        self._close_ended_runs_logs()
        self._wake_writer(hurry=True)

    def _close_ended_runs_logs(self) -> None:
        # Called once a top-level run and its hooks are done: runs that ended by then log
        # nothing more.
        ended, self._ended_runs = self._ended_runs, set()
        self._logs_allowed.close(ended)

    def close(self) -> None:
        """Write what is left and stop the writer; never waits for the writer to wake up."""
        self._closed = True
        logging.getLogger("kflow").removeHandler(self._log_handler)
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
            self.write_reported()

    def write_reported(self) -> None:
        """Write what is queued, in one transaction; unlike `flush`, runs that ended keep their
        log allowance (a reader settling the file must not change what is recorded)."""
        with self._write_lock:
            self._write_batch_locked()

    def _write_batch_locked(self, *, runs_only: bool = False) -> None:
        """`runs_only`: the flow-run events and shown results alone; the task-run events and
        log lines stay queued, in order, for the next batch."""
        # The events are taken while holding the write lock, so batches reach the database
        # in the order they were taken (an update never precedes the insert it refers to).
        flow_events = _drain(self._flow_events)
        task_events = [] if runs_only else _drain(self._task_events)
        # After the flow events: a result or log line is never written before its run.
        results = _drain(self._shown_results)
        log_events = [] if runs_only else _drain(self._log_events)
        if not flow_events and not task_events and not results and not log_events:
            return
        try:
            self._write(flow_events, task_events, results, log_events)
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

    def _write(
        self,
        flow_events: list[Event],
        task_events: list[Event],
        results: list[tuple[str, str]],
        log_events: list[LogEvent | LogRow],
    ) -> None:
        flow = rows.flow_rows(flow_events, self._process)
        task = rows.task_rows(task_events)
        # An engine line's event is its row already (len 7): no call for it.
        logs = [event if len(event) == 7 else log_row(event) for event in log_events]
        connection = self._open()
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement, batch in (
                (rows.FLOW_RUN_INSERT, flow.inserts),
                (rows.FLOW_RUN_UPDATE, flow.updates),
                (rows.FLOW_STATE_INSERT, flow.states),
                (rows.TASK_RUN_INSERT, task.inserts),
                (rows.TASK_RUN_UPDATE, task.updates),
                (rows.TASK_STATE_INSERT, task.states),
                (rows.FLOW_RESULT_UPDATE, [(shown, run_id) for run_id, shown in results]),
                (LOG_INSERT, logs),
            ):
                if batch:
                    connection.executemany(statement, batch)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise


def _drain(events: deque[_T]) -> list[_T]:
    """Take every event queued so far; appends racing with this land in the next batch.

    Only a holder of the write lock drains, so the events counted are there to be taken.
    """
    take = events.popleft
    return [take() for _ in range(len(events))]


def _recording_process() -> RecordingProcess:
    """This process as the history records it (start time and boot id only where /proc is)."""
    if not processes.proc_available():
        return RecordingProcess(socket.gethostname(), os.getpid(), None, None)
    me = processes.own_process_id()
    return RecordingProcess(socket.gethostname(), me.pid, processes.boot_id(), me.start_ticks)


def _flush_at_exit(backend_ref: weakref.ref[LocalHistoryBackend]) -> None:
    backend = backend_ref()
    if backend is not None and backend._pid == os.getpid():
        backend.close()


def _reset_in_child(backend_ref: weakref.ref[LocalHistoryBackend]) -> None:
    """A forked child starts empty: the parent writes what it had buffered."""
    backend = backend_ref()
    if backend is not None:
        backend._init_process_state()
