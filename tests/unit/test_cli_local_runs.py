"""`kflow flow-run ls|inspect` against a temporary KFLOW_HOME, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from kflow.backend import FlowRun, TaskRun
from kflow.history.local_backend import LocalHistoryBackend
from kflow.states import Completed, Failed, Pending, Running, TimedOut


def kflow(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-c", "import sys; from kflow.cli import main; sys.exit(main())", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _record(home: Path) -> None:
    """Two runs: an older one that timed out and a newer one with three tasks and a subflow."""
    backend = LocalHistoryBackend(home)
    old = FlowRun("aaaa0000-0000-0000-0000-000000000001", "sleepy-sloth", "slow-flow", {})
    backend.create_flow_run(old)
    old.start_time = time.time()
    backend.set_flow_run_state(old, Running())
    old.end_time = time.time() + 2
    backend.set_flow_run_state(old, TimedOut("Flow run exceeded timeout of 1.0 second(s)"))
    backend.flush()
    time.sleep(0.01)  # distinct creation times order the listing

    new = FlowRun(
        "bbbb0000-0000-0000-0000-000000000002",
        "brave-otter",
        "example-workflow",
        {"name": "Marvin", "numbers": [1, 2, 3]},
    )
    backend.create_flow_run(new)
    backend.set_flow_run_state(new, Pending())
    new.start_time = time.time()
    new.run_count = 1
    backend.set_flow_run_state(new, Running())
    for i, state in enumerate([Completed(), Failed("Task run encountered an exception.")]):
        task_run = TaskRun(f"task-{i}", f"square-{i}", "square", "square-1a2b", i, new.id)
        backend.create_task_run(task_run)
        task_run.start_time = time.time()
        task_run.run_count = 1
        backend.set_task_run_state(task_run, Running())
        task_run.end_time = time.time()
        backend.set_task_run_state(task_run, state)
    mirror = TaskRun(
        "mirror-0",
        "summary-0",
        "summary",
        "summary",
        0,
        new.id,
        child_flow_run_id="cccc0000-0000-0000-0000-000000000003",
    )
    backend.create_task_run(mirror)
    child = FlowRun(
        "cccc0000-0000-0000-0000-000000000003",
        "calm-lynx",
        "summary",
        {},
        parent_flow_run_id=new.id,
        parent_task_run_id="mirror-0",
    )
    backend.create_flow_run(child)
    backend.set_flow_run_state(child, Completed())
    backend.set_task_run_state(mirror, Completed())
    new.end_time = time.time()
    backend.set_flow_run_state(new, Failed("1/3 states failed."))
    backend.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    _record(tmp_path)
    return tmp_path


def test_ls_lists_runs_newest_first_with_their_state(home: Path) -> None:
    result = kflow(home, "flow-run", "ls", "--local")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "FLOW", "STATE", "START", "DURATION"]
    assert [line.split()[1] for line in lines[1:]] == ["calm-lynx", "brave-otter", "sleepy-sloth"]
    assert "FAILED (TimedOut)" in lines[3]
    assert lines[3].rstrip().endswith("s")  # a duration, not "so far"


def test_ls_limit_and_local_flag(home: Path) -> None:
    result = kflow(home, "flow-run", "ls", "--local", "--limit", "1")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert "calm-lynx" in result.stdout


def test_ls_rejects_a_negative_limit_saying_why(home: Path) -> None:
    result = kflow(home, "flow-run", "ls", "--local", "--limit", "-3")
    assert result.returncode == 2
    assert "--limit: expected 0 or more, got -3" in result.stderr


def test_ls_with_no_history_says_so(tmp_path: Path) -> None:
    result = kflow(tmp_path / "empty", "flow-run", "ls", "--local")
    assert result.returncode == 0
    assert "No flow runs in the local history" in result.stdout
    assert not (tmp_path / "empty").exists()


def test_inspect_shows_the_run_its_states_tasks_and_subflows(home: Path) -> None:
    result = kflow(home, "flow-run", "inspect", "bbbb", "--local")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "brave-otter (bbbb0000-0000-0000-0000-000000000002)" in out
    assert '{"name": "Marvin", "numbers": [1, 2, 3]}' in out
    assert "1/3 states failed." in out
    assert "State history (3)" in out
    history = out.split("State history (3)")[1].split("Task runs")[0]
    assert [line.split()[2] for line in history.strip().splitlines()[1:]] == [
        "PENDING",
        "RUNNING",
        "FAILED",
    ]
    assert "Task runs (3: 2 COMPLETED, 1 FAILED)" in out
    assert "Task run encountered an exception." in out
    assert "Subflow runs (1: 1 COMPLETED)" in out
    assert "calm-lynx" in out


def test_inspect_by_name_and_the_subflow_shows_its_parent(home: Path) -> None:
    result = kflow(home, "flow-run", "inspect", "calm-lynx", "--local")
    assert result.returncode == 0, result.stderr
    assert "flow run bbbb0000-0000-0000-0000-000000000002 (task run mirror-0)" in result.stdout


def test_inspect_task_limit(home: Path) -> None:
    result = kflow(home, "flow-run", "inspect", "brave-otter", "--task-limit", "1", "--local")
    assert "... 2 more (--task-limit 0 lists all)" in result.stdout


def test_inspect_unknown_or_ambiguous_run_fails_with_what_to_do(home: Path) -> None:
    unknown = kflow(home, "flow-run", "inspect", "nope", "--local")
    assert unknown.returncode == 1
    assert "no flow run 'nope' in the local history" in unknown.stderr
    assert "kflow flow-run ls" in unknown.stderr
    ambiguous = kflow(home, "flow-run", "inspect", "", "--local")
    assert ambiguous.returncode == 1
    assert "matches 3 flow runs" in ambiguous.stderr


def test_help_lists_commands_without_importing_them(tmp_path: Path) -> None:
    code = (
        "import sys; from kflow.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('kflow.history', 'kubernetes', 'sqlite3', 'pydantic')"
        " if m in sys.modules]\n"
        "print('IMPORTED', heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert "flow-run" in result.stdout
    assert "IMPORTED []" in result.stdout


def test_flow_run_without_subcommand_shows_usage(tmp_path: Path) -> None:
    result = kflow(tmp_path, "flow-run")
    assert result.returncode == 2
    assert "ls" in result.stderr and "inspect" in result.stderr


def test_local_listing_never_loads_the_kubernetes_client(home: Path) -> None:
    code = (
        "import sys; from kflow.cli import main\n"
        "main(['flow-run', 'ls', '--local'])\n"
        "print('KUBERNETES', 'kubernetes' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert "brave-otter" in result.stdout
    assert "KUBERNETES False" in result.stdout


def test_a_run_whose_process_died_is_recorded_crashed(tmp_path: Path) -> None:
    died = textwrap.dedent(
        """
        import os
        from kflow.backend import FlowRun
        from kflow.history.local_backend import LocalHistoryBackend
        from kflow.states import Running

        backend = LocalHistoryBackend()
        run = FlowRun("dead0000-0000-0000-0000-000000000000", "lost-lemur", "doomed", {})
        backend.create_flow_run(run)
        backend.set_flow_run_state(run, Running())
        backend.flush()
        os._exit(0)  # no final state, no exit handlers: like a kill -9
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(tmp_path)
    subprocess.run([sys.executable, "-c", died], env=env, check=True, timeout=60)
    result = kflow(tmp_path, "flow-run", "ls", "--local")
    assert result.stdout.splitlines()[1].split()[3] == "CRASHED"
    inspected = kflow(tmp_path, "flow-run", "inspect", "lost-lemur", "--local").stdout
    assert "is gone without reporting a final state" in inspected
    history = inspected.split("State history (2)")[1].split("Task runs")[0]
    assert [line.split()[2] for line in history.strip().splitlines()[1:]] == [
        "RUNNING",
        "CRASHED",
    ]
