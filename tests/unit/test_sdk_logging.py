"""The run logger: console format, where lines go, and what happens outside a run."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time

import pytest
from kflow import flow, get_run_logger, task
from kflow.logging import ConsoleFormatter

LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \| (?P<level>[A-Z]+ *) \| (?P<label>.+?) - (?P<msg>.*)$")


pytestmark = pytest.mark.usefixtures("backend")


def test_run_loggers_in_flows_and_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    @task
    def work() -> None:
        get_run_logger().warning("careful")

    @flow(name="Logging Flow")
    def f() -> None:
        logger = get_run_logger()
        logger.info("hello %s", "there")
        logger.error("bad thing")
        work()

    f()
    lines = [LINE.match(line) for line in capsys.readouterr().err.splitlines()]
    assert all(lines)
    parsed = [(m["level"], m["label"], m["msg"]) for m in lines if m]
    flow_label = parsed[1][1]
    assert re.fullmatch(r"Flow run '[a-z]+-[a-z]+'", flow_label)
    assert ("INFO   ", flow_label, "hello there") in parsed
    assert ("ERROR  ", flow_label, "bad thing") in parsed
    warning = next(p for p in parsed if p[2] == "careful")
    assert warning[0] == "WARNING" and re.fullmatch(r"Task run 'work-[0-9a-f]{8}-0'", warning[1])


def test_level_is_padded_to_seven_characters() -> None:
    record = logging.LogRecord("kflow.engine", logging.INFO, __file__, 1, "msg %d", (1,), None)
    record.created = 0.673
    record.msecs = 673
    line = ConsoleFormatter().format(record)
    assert re.fullmatch(r"\d\d:\d\d:00\.673 \| INFO    \| kflow\.engine - msg 1", line)


def test_exceptions_are_followed_by_their_traceback() -> None:
    try:
        raise ValueError("I fail successfully")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "kflow.task_runs", logging.ERROR, __file__, 1, "Encountered", (), sys.exc_info()
        )
    record.run_label = "Task run 'x-1-0'"
    text = ConsoleFormatter().format(record)
    first, *rest = text.splitlines()
    assert first.endswith("| ERROR   | Task run 'x-1-0' - Encountered")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: I fail successfully"


def test_records_carry_run_ids_for_other_handlers(caplog: pytest.LogCaptureFixture) -> None:
    kflow_logger = logging.getLogger("kflow")
    kflow_logger.addHandler(caplog.handler)
    try:

        @flow
        def f() -> None:
            get_run_logger().info("with ids")

        f()
    finally:
        kflow_logger.removeHandler(caplog.handler)
    record = next(r for r in caplog.records if r.getMessage() == "with ids")
    assert record.flow_run_id and record.flow_name == "f"  # type: ignore[attr-defined]
    assert any(r.getMessage().startswith("Created flow run") for r in caplog.records)


def test_get_run_logger_outside_a_run_says_so() -> None:
    with pytest.raises(RuntimeError, match="outside a flow run or task run"):
        get_run_logger()


def test_log_level_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kflow_logger = logging.getLogger("kflow")
    previous = kflow_logger.level
    kflow_logger.setLevel(logging.WARNING)
    try:

        @flow
        def quiet() -> None:
            get_run_logger().info("not shown")
            get_run_logger().warning("shown")

        quiet()
    finally:
        kflow_logger.setLevel(previous)
    err = capsys.readouterr().err
    assert "not shown" not in err and "shown" in err
    assert "Created flow run" not in err


def test_logged_tracebacks_start_in_user_code(capsys: pytest.CaptureFixture[str]) -> None:
    @task
    def fails() -> None:
        raise ValueError("I fail successfully")

    @flow
    def f() -> None:
        fails()

    f(return_state=True)
    err = capsys.readouterr().err
    assert err.count("Traceback (most recent call last):") == 2  # the task's, then the flow's
    frames = [line for line in err.splitlines() if line.startswith('  File "')]
    assert frames and all("sdk/kflow/" not in frame for frame in frames), frames


class RecordingStream:
    """A stderr stand-in that records which thread made each write."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((threading.current_thread().name, text))
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "".join(text for _, text in self.writes)


def test_threads_that_log_do_not_write_and_every_line_is_out_when_the_flow_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write to stderr gives up the GIL and costs the logging thread a switch: the task
    runner's threads and the submitting thread only queue their lines; the console's writer
    thread writes them, and the flow's end writes what is left."""
    stream = RecordingStream()
    monkeypatch.setattr(sys, "stderr", stream)

    @task
    def noop(i: int) -> int:
        return i

    @flow(name="quiet-submitter")
    def submitter() -> None:
        futures = [noop.submit(i) for i in range(200)]
        for future in futures:
            future.result()
        main_writes.extend(w for w in stream.writes if w[0] == "MainThread")

    main_writes: list[tuple[str, str]] = []
    submitter()
    writers = {name for name, _ in stream.writes}
    assert main_writes == [], "the submitting thread wrote nothing while it ran the flow"
    assert writers <= {"kflow-console", "MainThread"}, writers  # MainThread: the final flush
    lines = [LINE.match(line) for line in stream.text().splitlines()]
    assert all(lines)
    messages = [m["msg"] for m in lines if m]
    for i in range(200):
        name = f"'noop-{noop.key_hash}-{i}'"
        created = messages.index(f"Created task run {name} for task 'noop'")
        submitted = messages.index(f"Submitted task run {name} for execution.")
        assert created < submitted
    assert sum(m == "Finished in state Completed()" for m in messages) == 200
    assert messages[-1] == "Finished in state Completed('All states completed.')"
    assert len(stream.writes) < len(messages), "lines that queue up go out together"


def test_a_line_is_written_while_the_run_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """No flush needed: a task that waits sees its run's lines reach stderr meanwhile."""
    stream = RecordingStream()
    monkeypatch.setattr(sys, "stderr", stream)

    @task
    def waits_for_its_line() -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "Created task run 'waits_for_its_line-" in stream.text():
                return True
            time.sleep(0.005)
        return False

    @flow
    def watching() -> bool:
        return waits_for_its_line()

    assert watching() is True
