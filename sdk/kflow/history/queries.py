"""Reading the local run history: what `kflow flow-run ls|inspect|logs` and tests look at.

Reads never create the database: a machine that never ran a flow has an empty history.

A run that is not final while the process that ran it is gone (killed by SIGKILL or the
out-of-memory killer, or the machine stopped) is recorded CRASHED when a read finds it
(kflow.history.external_states): the process is identified by PID plus start time and boot id
(kflow.processes, the process launcher's rule), so a PID reused by another program does not
keep a dead run RUNNING. Runs recorded before start times were (schema 2) or where /proc is
missing are looked for by PID alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kflow import processes
from kflow.backend import kflow_home
from kflow.exceptions import KflowException
from kflow.history import pending, schema
from kflow.history.run_logs import LogLine


@dataclass(frozen=True)
class HistoryState:
    """A run's state as the local history database stores it (the FlowRun status's is
    kflow.resources.StateRecord)."""

    type: str
    name: str
    message: str | None
    timestamp: float


@dataclass(frozen=True)
class FlowRunRecord:
    id: str
    name: str
    flow_name: str
    flow_version: str | None
    parameters: dict[str, Any]
    tags: list[str]
    parent_flow_run_id: str | None
    parent_task_run_id: str | None
    created: float
    hostname: str
    pid: int
    start_time: float | None
    end_time: float | None
    run_count: int
    state: HistoryState | None
    boot_id: str | None = None
    process_start_ticks: int | None = None
    result: dict[str, Any] | None = None

    @property
    def final(self) -> bool:
        return self.state is not None and self.state.type in _FINAL

    @property
    def process(self) -> processes.ProcessId | None:
        """The recorded process, when it can be told apart from a later one with its PID."""
        if self.process_start_ticks is None:
            return None
        return processes.ProcessId(self.pid, self.process_start_ticks)

    @property
    def process_gone(self) -> bool:
        """True when the run is not final but the process that ran it here no longer exists.

        Such a run ended without reporting (killed, or the machine stopped): its last state
        is stale. Only knowable for runs of this host.
        """
        if self.final or self.hostname != _HOSTNAME:
            return False
        process = self.process
        if process is not None and processes.proc_available():
            if self.boot_id != processes.boot_id():
                return True  # the machine restarted since: every process of then is gone
            return not processes.is_alive(process)
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def with_state(self, state: HistoryState, end_time: float | None) -> FlowRunRecord:
        return dataclasses.replace(self, state=state, end_time=end_time)


@dataclass(frozen=True)
class TaskRunRecord:
    id: str
    flow_run_id: str
    name: str
    task_name: str
    task_key: str
    dynamic_key: int
    tags: list[str]
    child_flow_run_id: str | None
    created: float
    start_time: float | None
    end_time: float | None
    run_count: int
    state: HistoryState | None


class FlowRunNotFound(KflowException, LookupError):
    """No run in the local history matches what the user gave."""


class AmbiguousFlowRun(KflowException, LookupError):
    """Several runs match a prefix or a name: the user must give more of the id."""


_FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
_HOSTNAME = socket.gethostname()
_FLOW_RUN_COLUMNS = (
    "id, name, flow_name, flow_version, parameters, tags, parent_flow_run_id, "
    "parent_task_run_id, created, hostname, pid, start_time, end_time, run_count, "
    "state_type, state_name, state_message, state_timestamp, boot_id, process_start_ticks, "
    "result"
)
_TASK_RUN_COLUMNS = (
    "id, flow_run_id, name, task_name, task_key, dynamic_key, tags, child_flow_run_id, "
    "created, start_time, end_time, run_count, state_type, state_name, state_message, "
    "state_timestamp"
)


class History:
    """Read access to one history database (`History.at(home)`, default KFLOW_HOME)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def at(cls, home: Path | None = None) -> History:
        return cls(schema.database_path(home if home is not None else kflow_home()))

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection | None]:
        pending.settle(self.path)
        if not self.path.exists():
            yield None
            return
        connection = schema.connect(self.path, create=False)
        try:
            yield connection
        finally:
            connection.close()

    def flow_runs(self, limit: int | None = None) -> list[FlowRunRecord]:
        """Flow runs, newest first."""
        with self._connection() as db:
            if db is None:
                return []
            rows = db.execute(
                f"SELECT {_FLOW_RUN_COLUMNS} FROM flow_runs ORDER BY created DESC LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
            return _settled(db, [_flow_run(r) for r in rows])

    def flow_run(self, reference: str) -> FlowRunRecord:
        """The flow run with this id, unique id prefix, or run name."""
        with self._connection() as db:
            rows = [] if db is None else self._matching(db, reference)
            if not rows:
                raise FlowRunNotFound(
                    f"no flow run {reference!r} in the local history at {self.path}: give its "
                    "id (or a unique start of it) or its name as `kflow flow-run ls --local` "
                    "shows them."
                )
            if len(rows) > 1:
                shown = "\n".join(f"  {r[0]}  {r[1]}" for r in rows[:5])
                more = "\n  ..." if len(rows) > 5 else ""
                raise AmbiguousFlowRun(
                    f"{reference!r} matches {'more than 5' if more else len(rows)} flow runs; "
                    f"give more of the id:\n{shown}{more}"
                )
            assert db is not None
            return _settled(db, [_flow_run(rows[0])])[0]

    @staticmethod
    def _matching(db: sqlite3.Connection, reference: str) -> list[Any]:
        select = f"SELECT {_FLOW_RUN_COLUMNS} FROM flow_runs"
        exact = db.execute(f"{select} WHERE id = ?", (reference,)).fetchall()
        if exact:
            return exact
        escaped = reference.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        by_prefix = db.execute(
            f"{select} WHERE id LIKE ? ESCAPE '\\' ORDER BY created DESC LIMIT 6",
            (escaped + "%",),
        ).fetchall()
        if by_prefix:
            return by_prefix
        return db.execute(
            f"{select} WHERE name = ? ORDER BY created DESC LIMIT 6", (reference,)
        ).fetchall()

    def flow_run_states(self, flow_run_id: str) -> list[HistoryState]:
        """Every state the flow run went through, oldest first."""
        with self._connection() as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT type, name, message, timestamp FROM flow_run_states"
                " WHERE flow_run_id = ? ORDER BY seq",
                (flow_run_id,),
            ).fetchall()
        return [HistoryState(*r) for r in rows]

    def task_runs(self, flow_run_id: str) -> list[TaskRunRecord]:
        """The flow run's task runs (subflow mirrors included), in creation order."""
        with self._connection() as db:
            if db is None:
                return []
            rows = db.execute(
                f"SELECT {_TASK_RUN_COLUMNS} FROM task_runs WHERE flow_run_id = ?"
                " ORDER BY created, rowid",
                (flow_run_id,),
            ).fetchall()
        return [_task_run(r) for r in rows]

    def task_run_states(self, flow_run_id: str, task_run_id: str) -> list[HistoryState]:
        """Every state the task run went through, oldest first."""
        with self._connection() as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT type, name, message, timestamp FROM task_run_states"
                " WHERE flow_run_id = ? AND task_run_id = ? ORDER BY seq",
                (flow_run_id, task_run_id),
            ).fetchall()
        return [HistoryState(*r) for r in rows]

    def subflow_runs(self, flow_run_id: str) -> list[FlowRunRecord]:
        with self._connection() as db:
            if db is None:
                return []
            rows = db.execute(
                f"SELECT {_FLOW_RUN_COLUMNS} FROM flow_runs WHERE parent_flow_run_id = ?"
                " ORDER BY created",
                (flow_run_id,),
            ).fetchall()
            return _settled(db, [_flow_run(r) for r in rows])

    def record_state(self, flow_run_id: str, state: HistoryState, *, seen: str | None) -> bool:
        """Write a state from outside the run's process, if its state type is still `seen`
        (kflow.history.external_states); False when it moved on."""
        from kflow.history.external_states import set_flow_run_state

        with self._connection() as db:
            if db is None:
                return False
            return set_flow_run_state(db, flow_run_id, state, seen=seen)

    def logs(self, flow_run_id: str, after: int = 0) -> list[LogLine]:
        """The run's kept log lines (kflow.history.run_logs) after line number `after`."""
        with self._connection() as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT line, flow_run_id, task_run_id, level, timestamp, label, message"
                " FROM flow_run_logs WHERE flow_run_id = ? AND line > ? ORDER BY line",
                (flow_run_id, after),
            ).fetchall()
        return [LogLine(*r) for r in rows]

    def count_task_runs(self, flow_run_id: str) -> int:
        with self._connection() as db:
            if db is None:
                return 0
            row = db.execute(
                "SELECT count(*) FROM task_runs WHERE flow_run_id = ?", (flow_run_id,)
            ).fetchone()
        return int(row[0])


def _settled(db: sqlite3.Connection, records: list[FlowRunRecord]) -> list[FlowRunRecord]:
    """The records, each run whose process is gone recorded as ended first.

    Where the history cannot be written (a read-only copy), the end is shown but not kept.
    """
    from kflow.history.external_states import gone_process_state, record_gone

    settled = []
    for record in records:
        if record.process_gone:
            try:
                ended = record_gone(db, record)
            except sqlite3.Error:
                ended = record.with_state(gone_process_state(record, time.time()), None)
            if ended is None:  # its state changed meanwhile: read it again
                (row,) = db.execute(
                    f"SELECT {_FLOW_RUN_COLUMNS} FROM flow_runs WHERE id = ?", (record.id,)
                ).fetchall()
                ended = _flow_run(row)
            record = ended
        settled.append(record)
    return settled


def _state(
    type_: str | None, name: str | None, message: str | None, ts: float | None
) -> HistoryState | None:
    if type_ is None or name is None or ts is None:
        return None
    return HistoryState(type_, name, message, ts)


def _flow_run(row: Any) -> FlowRunRecord:
    return FlowRunRecord(
        id=row[0],
        name=row[1],
        flow_name=row[2],
        flow_version=row[3],
        parameters=json.loads(row[4]),
        tags=json.loads(row[5]),
        parent_flow_run_id=row[6],
        parent_task_run_id=row[7],
        created=row[8],
        hostname=row[9],
        pid=row[10],
        start_time=row[11],
        end_time=row[12],
        run_count=row[13],
        state=_state(*row[14:18]),
        boot_id=row[18],
        process_start_ticks=row[19],
        result=json.loads(row[20]) if row[20] else None,
    )


def _task_run(row: Any) -> TaskRunRecord:
    return TaskRunRecord(
        id=row[0],
        flow_run_id=row[1],
        name=row[2],
        task_name=row[3],
        task_key=row[4],
        dynamic_key=row[5],
        tags=json.loads(row[6]),
        child_flow_run_id=row[7],
        created=row[8],
        start_time=row[9],
        end_time=row[10],
        run_count=row[11],
        state=_state(*row[12:16]),
    )
