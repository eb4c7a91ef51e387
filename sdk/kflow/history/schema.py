"""The SQLite file that holds the local run history, and how every process opens it.

WAL mode lets the CLI read while flows write, and several flow processes write the same file
(each holds its own connection; SQLite serialises their transactions, waiting up to
`BUSY_TIMEOUT_MS` for a lock). `synchronous=NORMAL` keeps a commit durable across a process
exit, which is what the history promises; only a power cut may lose the last transactions.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from kflow.exceptions import KflowException

DATABASE_NAME = "history.db"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
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
    state_timestamp REAL,
    boot_id TEXT,
    process_start_ticks INTEGER,
    result TEXT
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

-- Keyed by run and line number (counted by the run's process): a run's lines are written, and
-- read, next to each other, with no second index to keep up.
CREATE TABLE IF NOT EXISTS flow_run_logs (
    flow_run_id TEXT NOT NULL,
    line INTEGER NOT NULL,
    task_run_id TEXT,
    level INTEGER NOT NULL,
    timestamp REAL NOT NULL,
    label TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (flow_run_id, line)
) WITHOUT ROWID;
"""


# Version 1 keyed task runs and their states by task-run id alone.
_MIGRATE_1_TO_2_BEFORE = """
ALTER TABLE task_runs RENAME TO task_runs_v1;
ALTER TABLE task_run_states RENAME TO task_run_states_v1;
DROP INDEX IF EXISTS task_runs_by_flow_run;
DROP INDEX IF EXISTS task_run_states_by_run
"""
_MIGRATE_1_TO_2_AFTER = """
INSERT OR IGNORE INTO task_runs SELECT * FROM task_runs_v1;
INSERT INTO task_run_states (flow_run_id, task_run_id, type, name, message, timestamp)
    SELECT t.flow_run_id, s.task_run_id, s.type, s.name, s.message, s.timestamp
    FROM task_run_states_v1 AS s JOIN task_runs_v1 AS t ON t.id = s.task_run_id ORDER BY s.seq;
DROP TABLE task_runs_v1;
DROP TABLE task_run_states_v1
"""


# Version 2 had no process start time (a run's process was looked for by PID alone), no
# result and no log lines; its runs keep NULL there and are read the old way.
_MIGRATE_2_TO_3 = """
ALTER TABLE flow_runs ADD COLUMN boot_id TEXT;
ALTER TABLE flow_runs ADD COLUMN process_start_ticks INTEGER;
ALTER TABLE flow_runs ADD COLUMN result TEXT
"""


def _run_script(connection: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


class HistoryDatabaseError(KflowException, RuntimeError):
    """The history file cannot be used (newer schema, not a database, unwritable)."""


def database_path(home: Path) -> Path:
    return home / DATABASE_NAME


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """Open the history database, creating or checking its schema.

    The connection may be used from any thread, but only by one at a time: callers hold
    their own lock around it.
    """
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
        )
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _prepare(connection, path)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise HistoryDatabaseError(
            f"cannot use the kflow run history at {path} ({exc}); point KFLOW_HOME at a "
            f"writable directory, or move the file away to start a fresh history."
        ) from exc
    return connection


def _prepare(connection: sqlite3.Connection, path: Path) -> None:
    """WAL mode and the schema, retried while another connection holds the lock.

    Switching a new database to WAL can fail with "database is locked" at once, without the
    busy handler, while another process or thread opens the same fresh file (SQLite declines
    to wait where waiting could deadlock); the next try succeeds once that one is done.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            _ensure_schema(connection, path)
            return
        except sqlite3.OperationalError as exc:
            contended = "locked" in str(exc) or "busy" in str(exc)
            if not contended or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _ensure_schema(connection: sqlite3.Connection, path: Path) -> None:
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise HistoryDatabaseError(
            f"the kflow run history at {path} has schema version {version}, newer than this "
            f"kflow understands ({SCHEMA_VERSION}); upgrade kflow or point KFLOW_HOME elsewhere."
        )
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have done this while this one waited for the lock.
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version == 1:
            _run_script(connection, _MIGRATE_1_TO_2_BEFORE)
        if version in (1, 2):
            # Before the schema script: CREATE TABLE IF NOT EXISTS leaves old tables as they are.
            _run_script(connection, _MIGRATE_2_TO_3)
        if version < SCHEMA_VERSION:
            _run_script(connection, _SCHEMA)
        if version == 1:
            _run_script(connection, _MIGRATE_1_TO_2_AFTER)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
