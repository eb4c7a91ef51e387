"""States of a local run written by someone other than the run's own process.

Two writers: a read of the history that finds a run's process gone (→ CRASHED, or CANCELLED
when it was CANCELLING: a cancelled run whose process is gone is cancelled, as the operator
has it), and `kflow flow-run cancel --local` (→ CANCELLING). Each write is a compare-and-set on
the state the writer saw, in one transaction with its state-history row, so it never replaces
a state the run's process wrote meanwhile.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING

from kflow.history.rows import FINAL_TYPES

if TYPE_CHECKING:
    from kflow.history.queries import FlowRunRecord, HistoryState

_FINAL_LIST = ", ".join(f"'{t}'" for t in sorted(FINAL_TYPES))


def gone_process_state(record: FlowRunRecord, now: float) -> HistoryState:
    """What a run whose process is gone without a final state has become."""
    from kflow.history.queries import HistoryState

    where = f"process {record.pid} on {record.hostname}"
    if record.state is not None and record.state.type == "CANCELLING":
        return HistoryState(
            "CANCELLED",
            "Cancelled",
            f"Flow run was cancelled; its {where} stopped before reporting it.",
            now,
        )
    return HistoryState(
        "CRASHED",
        "Crashed",
        f"Flow run {where} is gone without reporting a final state: killed (SIGKILL, the "
        "out-of-memory killer) or the machine stopped.",
        now,
    )


def set_flow_run_state(
    db: sqlite3.Connection,
    flow_run_id: str,
    state: HistoryState,
    *,
    seen: str | None,
    end_time: float | None = None,
) -> bool:
    """Write `state` if the run is still in state type `seen`; False when it moved on."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if not _set_flow_run_state(db, flow_run_id, state, seen, end_time):
            db.execute("ROLLBACK")
            return False
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return True


def record_gone(db: sqlite3.Connection, record: FlowRunRecord) -> FlowRunRecord | None:
    """Record a run whose process is gone as ended (`gone_process_state`), with its unfinished
    task runs.

    Its end is the last thing it was seen doing (its latest state or task-run state), not the
    moment this read noticed. None when the run's state changed since `record` was read.
    """
    now = time.time()
    state = gone_process_state(record, now)
    seen = record.state.type if record.state is not None else None
    db.execute("BEGIN IMMEDIATE")
    try:
        (last_task_change,) = db.execute(
            "SELECT max(state_timestamp) FROM task_runs WHERE flow_run_id = ?", (record.id,)
        ).fetchone()
        seen_at = [t for t in (record.created, last_task_change) if t is not None]
        if record.state is not None:
            seen_at.append(record.state.timestamp)
        end_time = max(seen_at)
        if not _set_flow_run_state(db, record.id, state, seen, end_time):
            db.execute("ROLLBACK")
            return None
        unfinished = (
            f"flow_run_id = ? AND (state_type IS NULL OR state_type NOT IN ({_FINAL_LIST}))"
        )
        message = "Its flow run's process is gone."
        db.execute(
            "INSERT INTO task_run_states (flow_run_id, task_run_id, type, name, message, "
            f"timestamp) SELECT flow_run_id, id, ?, ?, ?, ? FROM task_runs WHERE {unfinished}",
            (state.type, state.name, message, now, record.id),
        )
        db.execute(
            "UPDATE task_runs SET state_type = ?, state_name = ?, state_message = ?, "
            f"state_timestamp = ?, end_time = coalesce(end_time, ?) WHERE {unfinished}",
            (state.type, state.name, message, now, end_time, record.id),
        )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return record.with_state(state, end_time)


def _set_flow_run_state(
    db: sqlite3.Connection,
    flow_run_id: str,
    state: HistoryState,
    seen: str | None,
    end_time: float | None,
) -> bool:
    changed = db.execute(
        "UPDATE flow_runs SET state_type = ?, state_name = ?, state_message = ?, "
        "state_timestamp = ?, end_time = coalesce(?, end_time) WHERE id = ? AND state_type IS ?",
        (state.type, state.name, state.message, state.timestamp, end_time, flow_run_id, seen),
    ).rowcount
    if not changed:
        return False
    db.execute(
        "INSERT INTO flow_run_states (flow_run_id, type, name, message, timestamp)"
        " VALUES (?, ?, ?, ?, ?)",
        (flow_run_id, state.type, state.name, state.message, state.timestamp),
    )
    return True
