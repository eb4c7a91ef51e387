"""A history written by the previous kflow (schema 2) opens with this one: its runs are listed,
new runs are recorded next to them, and its runs without a process start time are still
checked by PID."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from kflow.backend import FlowRun
from kflow.history import schema
from kflow.history.local_backend import LocalHistoryBackend
from kflow.history.queries import History
from kflow.states import Completed

from tests.support.local_runs import kflow

# The tables of schema 2, as kflow wrote them before process start times, results and logs.
SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS flow_runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    flow_name TEXT NOT NULL,
    flow_version TEXT,
    parameters TEXT NOT NULL,
    tags TEXT NOT NULL,
    parent_flow_run_id TEXT,
    parent_task_run_id TEXT,
    created REAL NOT NULL,
    scheduled_time REAL,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    start_time REAL,
    end_time REAL,
    run_count INTEGER NOT NULL DEFAULT 0,
    state_type TEXT,
    state_name TEXT,
    state_message TEXT,
    state_timestamp REAL
);
CREATE INDEX IF NOT EXISTS flow_runs_by_created ON flow_runs (created DESC);
CREATE INDEX IF NOT EXISTS flow_runs_by_parent ON flow_runs (parent_flow_run_id);

CREATE TABLE IF NOT EXISTS flow_run_states (
    seq INTEGER PRIMARY KEY,
    flow_run_id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    message TEXT,
    timestamp REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS flow_run_states_by_run ON flow_run_states (flow_run_id, seq);

CREATE TABLE IF NOT EXISTS task_runs (
    id TEXT NOT NULL,
    flow_run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    task_name TEXT NOT NULL,
    task_key TEXT NOT NULL,
    dynamic_key INTEGER NOT NULL,
    tags TEXT NOT NULL,
    child_flow_run_id TEXT,
    created REAL NOT NULL,
    start_time REAL,
    end_time REAL,
    run_count INTEGER NOT NULL DEFAULT 0,
    state_type TEXT,
    state_name TEXT,
    state_message TEXT,
    state_timestamp REAL
);
-- Task-run ids are random: an index led by them costs a random B-tree insert per task run.
-- Led by the flow run's id, the inserts of one batch land next to each other.
CREATE UNIQUE INDEX IF NOT EXISTS task_runs_by_flow_run ON task_runs (flow_run_id, id);

CREATE TABLE IF NOT EXISTS task_run_states (
    seq INTEGER PRIMARY KEY,
    flow_run_id TEXT NOT NULL,
    task_run_id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    message TEXT,
    timestamp REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS task_run_states_by_flow_run ON task_run_states (flow_run_id);
"""


def _schema_2_history(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "history.db"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_2)
        db.execute("PRAGMA user_version = 2")
        row = (
            "old00000-0000-0000-0000-000000000001", "old-owl", "old-flow", None, "{}", "[]",
            None, None, 1_700_000_000.0, None, "elsewhere", 1, 1_700_000_000.0,
            1_700_000_001.0, 1, "COMPLETED", "Completed", None, 1_700_000_001.0,
        )  # fmt: skip
        db.execute(f"INSERT INTO flow_runs VALUES ({', '.join('?' * len(row))})", row)
        gone = (
            "old00000-0000-0000-0000-000000000002", "lost-lynx", "old-flow", None, "{}", "[]",
            None, None, 1_700_000_002.0, None, os.uname().nodename, 2**22 + 1,
            1_700_000_002.0, None, 1, "RUNNING", "Running", None, 1_700_000_002.0,
        )  # fmt: skip
        db.execute(f"INSERT INTO flow_runs VALUES ({', '.join('?' * len(gone))})", gone)
    return path


def test_a_schema_2_history_opens_and_takes_new_runs(tmp_path: Path) -> None:
    path = _schema_2_history(tmp_path)

    listed = kflow(tmp_path, "flow-run", "ls", "--local")

    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[1]: line.split()[3] for line in listed.stdout.splitlines()[1:]}
    # Recorded without a start time: looked for by PID (here one above the kernel's maximum).
    assert rows == {"old-owl": "COMPLETED", "lost-lynx": "CRASHED"}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION

    backend = LocalHistoryBackend(tmp_path)
    new = FlowRun("new00000-0000-0000-0000-000000000003", "new-newt", "new-flow", {})
    backend.create_flow_run(new)
    backend.set_flow_run_state(new, Completed(data=7))
    backend.close()
    runs = {run.name: run for run in History.at(tmp_path).flow_runs()}
    assert set(runs) == {"old-owl", "lost-lynx", "new-newt"}
    assert runs["new-newt"].result == {"value": 7, "summary": "7"}
    assert runs["new-newt"].process_start_ticks is not None
    assert runs["old-owl"].result is None
