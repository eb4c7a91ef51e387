"""Engine lines without a LogRecord (kflow.log_lines): the console text and history rows are
those of the record path, and anything a user configures on the way takes the record path."""

from __future__ import annotations

import io
import logging
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kflow.backend import FlowRun
from kflow.history.local_backend import LocalHistoryBackend
from kflow.log_lines import line_handlers
from kflow.logging import (
    ConsoleHandler,
    RunLogger,
    engine_logger,
    flow_run_logger,
    flush_console,
    setup_logging,
    task_run_logger,
)
from kflow.states import Completed, Failed

NOW = 1796426518.0770793
KFLOW = logging.getLogger("kflow")
FLOW_RUNS = logging.getLogger("kflow.flow_runs")
TASK_RUNS = logging.getLogger("kflow.task_runs")


@pytest.fixture(autouse=True)
def _only_kflow_handlers() -> Iterator[None]:
    """The kflow logger as a user's process has it. pytest (9) attaches its capture handlers
    to every logger that does not propagate, in each phase of a test (so not before a fixture
    of the test runs): they are taken off while the test runs (see `detach`)."""
    setup_logging()
    yield
    for handler in detached:
        KFLOW.addHandler(handler)
    detached.clear()


detached: list[logging.Handler] = []


def detach_pytest_handlers() -> None:
    for handler in [h for h in KFLOW.handlers if type(h).__module__.startswith("_pytest")]:
        KFLOW.removeHandler(handler)
        detached.append(handler)


def console_handler() -> ConsoleHandler:
    return next(h for h in KFLOW.handlers if isinstance(h, ConsoleHandler))


def console_text(monkeypatch: pytest.MonkeyPatch, emit: Callable[[], None]) -> str:
    detach_pytest_handlers()
    stream = io.StringIO()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", stream)
        emit()
        flush_console()
    return stream.getvalue()


def emit_a_task_runs_lines() -> None:
    """The engine's lines for one flow run with a failed and a completed task run."""
    RunLogger(engine_logger().logger, {"flow_run_id": "fr-1"}).emit_fast(
        logging.INFO, "Created flow run %r for flow %r", "merry-hawk", "my-flow"
    )
    flow_logger = flow_run_logger("merry-hawk", "fr-1", "my-flow")
    flow_logger.emit_fast(logging.INFO, "Using task runner %r", "ConcurrentTaskRunner")
    flow_logger.emit_fast(logging.INFO, "Created task run %r for task %r", "noop-abc-0", "noop")
    flow_logger.emit_fast(logging.INFO, "Submitted task run %r for execution.", "noop-abc-0")
    task_logger = task_run_logger("noop-abc-0", "tr-1", "fr-1")
    task_logger.emit_fast(logging.ERROR, "Finished in state %s", Failed("boom " + "x" * 20_000))
    task_run_logger("noop-abc-1", "tr-2", "fr-1").emit_fast(
        logging.INFO, "Finished in state %s", Completed()
    )
    engine_logger().emit_fast(logging.WARNING, "a line of no run: %s", "console only")
    flow_logger.emit_fast(logging.INFO, "Finished in state %s", Completed())


def console_and_history(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, list[tuple[Any, ...]]]:
    backend = LocalHistoryBackend(home)
    try:
        backend.create_flow_run(FlowRun("fr-1", "merry-hawk", "my-flow", {}))
        with monkeypatch.context() as clock:
            clock.setattr(time, "time", lambda: NOW)
            text = console_text(monkeypatch, emit_a_task_runs_lines)
        backend.flush()
        with sqlite3.connect(backend.path) as db:
            rows = db.execute("SELECT * FROM flow_run_logs ORDER BY line").fetchall()
    finally:
        backend.close()
    return text, rows


def test_engine_lines_print_and_keep_what_their_records_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detach_pytest_handlers()
    assert line_handlers(FLOW_RUNS, logging.INFO) is not None, "the line path is taken"
    fast = console_and_history(tmp_path / "lines", monkeypatch)
    other = logging.NullHandler()  # a handler kflow does not know: every line is a record
    KFLOW.addHandler(other)
    try:
        assert line_handlers(FLOW_RUNS, logging.INFO) is None
        records = console_and_history(tmp_path / "records", monkeypatch)
    finally:
        KFLOW.removeHandler(other)
    assert fast == records
    text, rows = fast
    clock = time.strftime("%H:%M:%S", time.localtime(NOW)) + ".077"
    assert text.splitlines()[2] == (
        f"{clock} | INFO    | Flow run 'merry-hawk' - Created task run 'noop-abc-0' for task 'noop'"
    )
    assert f"{clock} | WARNING | kflow.engine - a line of no run: console only" in text
    assert len(rows) == 7, "the line of no run is not kept"
    assert rows[4][:6] == ("fr-1", 5, "tr-1", logging.ERROR, NOW, "Task run 'noop-abc-0'")
    assert len(rows[4][6]) < 20_000, "a long message is cut as before"


@pytest.fixture
def restored() -> Iterator[None]:
    """Undo whatever a test configures on the kflow loggers."""
    console = console_handler()
    saved = (
        console.level,
        console.formatter,
        list(console.filters),
        KFLOW.propagate,
        FLOW_RUNS.disabled,
    )
    yield
    console.setLevel(saved[0])
    console.setFormatter(saved[1])
    console.filters = saved[2]
    KFLOW.propagate = saved[3]
    FLOW_RUNS.disabled = saved[4]


def flow_lines() -> None:
    logger = flow_run_logger("merry-hawk", "fr-1", "my-flow")
    logger.emit_fast(logging.INFO, "Created task run %r for task %r", "noop-abc-0", "noop")
    logger.emit_fast(logging.INFO, "Submitted task run %r for execution.", "noop-abc-0")
    logger.emit_fast(logging.ERROR, "Finished in state %s", Failed("boom"))


@pytest.mark.usefixtures("restored")
def test_a_filter_on_the_console_still_drops_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    console_handler().addFilter(lambda record: "Submitted" not in record.getMessage())
    text = console_text(monkeypatch, flow_lines)
    assert "Created task run" in text and "Submitted" not in text


@pytest.mark.usefixtures("restored")
def test_the_console_level_still_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    console_handler().setLevel(logging.ERROR)
    text = console_text(monkeypatch, flow_lines)
    assert "Created task run" not in text and "Finished in state Failed('boom')" in text


@pytest.mark.usefixtures("restored")
def test_a_formatter_of_ones_own_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    console_handler().setFormatter(logging.Formatter("%(levelname)s:%(flow_name)s:%(message)s"))
    text = console_text(monkeypatch, flow_lines)
    assert text.splitlines()[0] == "INFO:my-flow:Created task run 'noop-abc-0' for task 'noop'"


@pytest.mark.usefixtures("restored")
def test_a_disabled_logger_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    FLOW_RUNS.disabled = True
    assert console_text(monkeypatch, flow_lines) == ""


def test_a_handler_on_a_run_logger_gets_records_with_the_run_ids() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    TASK_RUNS.addHandler(keep)
    try:
        task_run_logger("noop-abc-0", "tr-1", "fr-1").emit_fast(
            logging.INFO, "Finished in state %s", Completed()
        )
    finally:
        TASK_RUNS.removeHandler(keep)
    assert [(r.getMessage(), r.task_run_id) for r in seen] == [  # type: ignore[attr-defined]
        ("Finished in state Completed()", "tr-1")
    ]


@pytest.mark.usefixtures("restored")
def test_propagating_to_the_root_logger_reaches_its_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    KFLOW.propagate = True
    with caplog.at_level(logging.INFO):
        flow_lines()
    assert [r.getMessage() for r in caplog.records][:1] == [
        "Created task run 'noop-abc-0' for task 'noop'"
    ]
