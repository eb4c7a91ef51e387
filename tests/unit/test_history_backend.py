"""The local history backend: what it records, when it is durable, and who may write at once."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kflow.backend import FlowRun, TaskRun
from kflow.backend_selection import _default_backend
from kflow.history import create_backend
from kflow.history.local_backend import LocalHistoryBackend
from kflow.history.queries import FlowRunNotFound, History
from kflow.history.schema import HistoryDatabaseError, connect, database_path
from kflow.states import Completed, Failed, Paused, Pending, Running


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KFLOW_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def backend(home: Path) -> Iterator[LocalHistoryBackend]:
    b = LocalHistoryBackend(home)
    yield b
    b.close()


def _flow_run(run_id: str = "fr-1", tags: list[str] | None = None) -> FlowRun:
    return FlowRun(run_id, "brave-otter", "my-flow", {"name": "world", "n": 3}, tags=tags)


def _task_run(task_run_id: str, flow_run_id: str = "fr-1", key: int = 0) -> TaskRun:
    return TaskRun(task_run_id, f"square-{key}", "square", "square-abc", key, flow_run_id)


def _run_task(backend: LocalHistoryBackend, task_run: TaskRun) -> None:
    backend.create_task_run(task_run)
    backend.set_task_run_state(task_run, Pending())
    task_run.start_time = time.time()
    task_run.run_count = 1
    backend.set_task_run_state(task_run, Running())
    task_run.end_time = time.time()
    backend.set_task_run_state(task_run, Completed())


def test_records_a_flow_run_with_its_task_runs_and_state_history(
    backend: LocalHistoryBackend, home: Path
) -> None:
    flow_run = _flow_run(tags=["nightly"])
    backend.create_flow_run(flow_run)
    backend.set_flow_run_state(flow_run, Pending())
    flow_run.start_time = time.time()
    backend.set_flow_run_state(flow_run, Running())
    for i in range(3):
        _run_task(backend, _task_run(f"tr-{i}", key=i))
    flow_run.end_time = time.time()
    backend.set_flow_run_state(flow_run, Completed("All states completed."))
    backend.flush()

    history = History.at(home)
    run = history.flow_run("fr-1")
    assert (run.name, run.flow_name, run.parameters, run.tags) == (
        "brave-otter",
        "my-flow",
        {"name": "world", "n": 3},
        ["nightly"],
    )
    assert run.state is not None
    assert (run.state.type, run.state.message) == ("COMPLETED", "All states completed.")
    assert run.start_time is not None and run.end_time is not None
    assert [s.type for s in history.flow_run_states("fr-1")] == ["PENDING", "RUNNING", "COMPLETED"]
    tasks = history.task_runs("fr-1")
    assert [t.name for t in tasks] == ["square-0", "square-1", "square-2"]
    assert all(t.state is not None and t.state.type == "COMPLETED" for t in tasks)
    assert all(t.run_count == 1 and t.start_time and t.end_time for t in tasks)
    assert [s.name for s in history.task_run_states("fr-1", "tr-0")] == [
        "Pending",
        "Running",
        "Completed",
    ]


def test_a_task_updated_after_its_creation_was_written_keeps_its_latest_state(
    backend: LocalHistoryBackend, home: Path
) -> None:
    backend.create_flow_run(_flow_run())
    task_run = _task_run("tr-1")
    backend.create_task_run(task_run)
    backend.set_task_run_state(task_run, Running())
    backend.flush()
    backend.set_task_run_state(task_run, Failed("Task run encountered an exception."))
    backend.flush()

    (record,) = History.at(home).task_runs("fr-1")
    assert record.state is not None
    assert (record.state.type, record.state.message) == (
        "FAILED",
        "Task run encountered an exception.",
    )
    assert [s.type for s in History.at(home).task_run_states("fr-1", "tr-1")] == [
        "RUNNING",
        "FAILED",
    ]


def test_subflow_links_are_kept_both_ways(backend: LocalHistoryBackend, home: Path) -> None:
    parent = _flow_run("parent")
    backend.create_flow_run(parent)
    mirror = TaskRun("mirror", "child-flow-0", "child-flow", "child-flow", 0, "parent")
    mirror.child_flow_run_id = "child"
    backend.create_task_run(mirror)
    child = FlowRun(
        "child", "calm-lynx", "child-flow", {}, parent_flow_run_id="parent",
        parent_task_run_id="mirror",
    )  # fmt: skip
    backend.create_flow_run(child)
    backend.flush()

    history = History.at(home)
    assert history.task_runs("parent")[0].child_flow_run_id == "child"
    assert history.flow_run("child").parent_task_run_id == "mirror"
    assert [r.id for r in history.subflow_runs("parent")] == ["child"]


def test_flow_run_events_reach_the_database_without_flush(
    backend: LocalHistoryBackend, home: Path
) -> None:
    flow_run = _flow_run()
    backend.create_flow_run(flow_run)
    backend.set_flow_run_state(flow_run, Running())
    deadline = time.monotonic() + 5
    history = History.at(home)
    while time.monotonic() < deadline:
        runs = history.flow_runs()
        if runs and runs[0].state is not None and runs[0].state.type == "RUNNING":
            break
        time.sleep(0.01)
    else:
        pytest.fail("a RUNNING flow run was not visible in the history within 5 s")


def test_a_top_level_runs_state_is_written_before_its_call_returns_and_its_tasks_follow(
    home: Path,
) -> None:
    """The writer waits a minute here, so what is in the file at once was written by
    `top_level_run_ended` itself, and what `History` shows beyond it came from settling."""
    backend = LocalHistoryBackend(home, linger=60, max_delay=60)
    try:
        flow_run = _flow_run()
        backend.create_flow_run(flow_run)
        backend.set_flow_run_state(flow_run, Running())
        for i in range(3):
            _run_task(backend, _task_run(f"tr-{i}", key=i))
        backend.set_flow_run_state(flow_run, Completed())
        backend.top_level_run_ended()

        raw = connect(database_path(home), create=False)
        try:
            state = raw.execute("SELECT state_type FROM flow_runs WHERE id = 'fr-1'").fetchone()
            assert state == ("COMPLETED",)
            assert raw.execute("SELECT count(*) FROM task_runs").fetchone() == (0,)
            # A reader in the same process sees everything the process reported.
            history = History.at(home)
            assert len(history.task_runs("fr-1")) == 3
            assert raw.execute("SELECT count(*) FROM task_runs").fetchone() == (3,)
        finally:
            raw.close()
    finally:
        backend.close()


def test_a_top_level_runs_task_runs_follow_without_a_reader_or_flush(
    backend: LocalHistoryBackend, home: Path
) -> None:
    flow_run = _flow_run()
    backend.create_flow_run(flow_run)
    _run_task(backend, _task_run("tr-0"))
    backend.set_flow_run_state(flow_run, Completed())
    backend.top_level_run_ended()
    raw = connect(database_path(home), create=False)
    try:
        deadline = time.monotonic() + 10
        while raw.execute("SELECT count(*) FROM task_runs").fetchone() != (1,):
            assert time.monotonic() < deadline, "the task run was not written within 10 s"
            time.sleep(0.01)
    finally:
        raw.close()


def test_reading_the_history_records_nothing_differently(
    backend: LocalHistoryBackend, home: Path
) -> None:
    """A subflow that ended keeps its log lines until its top-level run ends, whether or not
    someone in the process read the history meanwhile."""
    subflow = _flow_run("fr-sub")
    backend.create_flow_run(subflow)
    backend.set_flow_run_state(subflow, Completed())
    History.at(home).flow_runs()
    record = logging.LogRecord("kflow", logging.INFO, __file__, 1, "late line", None, None)
    backend.record_log("fr-sub", record)
    assert [line.message for line in History.at(home).logs("fr-sub")] == ["late line"]


def test_concurrent_threads_lose_no_task_run(backend: LocalHistoryBackend, home: Path) -> None:
    backend.create_flow_run(_flow_run())

    def report(worker: int) -> None:
        for i in range(500):
            _run_task(backend, _task_run(f"tr-{worker}-{i}", key=i))
            if i % 97 == 0:
                backend.flush()

    threads = [threading.Thread(target=report, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    backend.flush()

    history = History.at(home)
    assert history.count_task_runs("fr-1") == 4000
    assert all(t.state and t.state.type == "COMPLETED" for t in history.task_runs("fr-1"))


_WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from kflow.backend import FlowRun, TaskRun
    from kflow.history.local_backend import LocalHistoryBackend
    from kflow.states import Completed, Running

    run_id, count = sys.argv[1], int(sys.argv[2])
    backend = LocalHistoryBackend()
    flow_run = FlowRun(run_id, run_id, "writer", {})
    backend.create_flow_run(flow_run)
    for i in range(count):
        task_run = TaskRun(f"{run_id}-{i}", f"t-{i}", "t", "t", i, run_id)
        backend.create_task_run(task_run)
        backend.set_task_run_state(task_run, Running())
        backend.set_task_run_state(task_run, Completed())
    backend.set_flow_run_state(flow_run, Completed())
    # No flush(): what was reported must still be in the history after the process exits.
    """
)


def test_several_processes_write_at_once_and_exit_without_flush(home: Path) -> None:
    processes = [
        subprocess.Popen([sys.executable, "-c", _WRITER_SCRIPT, f"proc-{n}", "1000"])
        for n in range(3)
    ]
    for process in processes:
        assert process.wait(timeout=60) == 0

    history = History.at(home)
    for n in range(3):
        assert history.count_task_runs(f"proc-{n}") == 1000
        run = history.flow_run(f"proc-{n}")
        assert run.state is not None and run.state.type == "COMPLETED"


_RESUMER_SCRIPT = textwrap.dedent(
    """
    import sys
    from kflow.history import create_backend
    create_backend().resume_flow_run(sys.argv[1])
    """
)


def test_another_process_resumes_a_paused_run(backend: LocalHistoryBackend, home: Path) -> None:
    flow_run = _flow_run()
    backend.create_flow_run(flow_run)
    backend.set_flow_run_state(flow_run, Running())
    backend.prepare_pause(flow_run)
    backend.set_flow_run_state(flow_run, Paused())
    assert History.at(home).flow_run("fr-1").state.type == "PAUSED"  # type: ignore[union-attr]

    resumed: list[bool] = []
    waiter = threading.Thread(target=lambda: resumed.append(backend.wait_for_resume(flow_run, 30)))
    waiter.start()
    subprocess.run([sys.executable, "-c", _RESUMER_SCRIPT, "fr-1"], check=True, timeout=30)
    waiter.join(timeout=30)
    assert resumed == [True]


def test_resume_refuses_unknown_and_finished_runs(backend: LocalHistoryBackend) -> None:
    with pytest.raises(FlowRunNotFound, match="no flow run with id 'nope'"):
        backend.resume_flow_run("nope")
    flow_run = _flow_run()
    backend.create_flow_run(flow_run)
    backend.set_flow_run_state(flow_run, Completed())
    with pytest.raises(ValueError, match="already ended in state COMPLETED"):
        backend.resume_flow_run("fr-1")


def test_is_the_default_backend_for_local_runs(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KFLOW_BACKEND", raising=False)
    default = _default_backend()
    try:
        assert isinstance(default, LocalHistoryBackend)
        assert default.path == home / "history.db"
    finally:
        default.close()
    assert isinstance(create_backend(), LocalHistoryBackend)


def test_a_newer_schema_is_refused_with_what_to_do(home: Path) -> None:
    path = database_path(home)
    connect(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryDatabaseError, match="upgrade kflow or point KFLOW_HOME"):
        connect(path)


def test_reading_an_absent_history_creates_nothing(tmp_path: Path) -> None:
    history = History.at(tmp_path / "never-used")
    assert history.flow_runs() == []
    with pytest.raises(FlowRunNotFound, match="kflow flow-run ls"):
        history.flow_run("abc")
    assert not (tmp_path / "never-used").exists()


def test_an_unusable_history_is_reported_once_and_never_fails_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_directory = tmp_path / "home"
    not_a_directory.write_text("")
    backend = LocalHistoryBackend(not_a_directory)
    flow_run = _flow_run()
    backend.create_flow_run(flow_run)
    backend.set_flow_run_state(flow_run, Running())
    with caplog.at_level("ERROR", logger="kflow.history"):
        backend.flush()
        backend.set_flow_run_state(flow_run, Completed())
        backend.close()
    errors = [r.getMessage() for r in caplog.records if r.name == "kflow.history"]
    assert len(errors) == 1
    assert "events were not recorded" in errors[0]
    assert f"cannot use the kflow run history at {not_a_directory / 'history.db'}" in errors[0]
    assert "point KFLOW_HOME at a writable directory" in errors[0]


def test_parameters_json_cannot_hold_are_kept_as_their_repr(
    backend: LocalHistoryBackend, home: Path
) -> None:
    cyclic: list[object] = []
    cyclic.append(cyclic)
    flow_run = FlowRun(
        "fr-odd", "odd-owl", "odd", {"mixed": {1: "a", "b": 2}, "cyclic": cyclic, "n": 5}
    )
    backend.create_flow_run(flow_run)
    backend.set_flow_run_state(flow_run, Completed())
    backend.flush()
    assert History.at(home).flow_run("fr-odd").parameters == {
        "mixed": repr({1: "a", "b": 2}),
        "cyclic": "[[...]]",
        "n": 5,
    }
