"""`kflow flow-run resume|cancel|logs --local` take a run as `inspect` does (id, id prefix or
name), say what to do when they cannot act, and `logs` prints what the run logged."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from kflow.backend import FlowRun
from kflow.history.local_backend import LocalHistoryBackend
from kflow.history.queries import History
from kflow.states import Completed, Running

from tests.support.local_runs import environment, finish, kflow, start_flow, wait_for_run

PAUSING = """
from kflow import flow, pause_flow_run, task


def on_cancellation(flow, flow_run, state):
    print("HOOK on_cancellation", state.type.value, flush=True)


@task
def setup() -> str:
    return "a raft of ducks walk into a bar..."


@flow(flow_run_name="joke", on_cancellation=[on_cancellation])
def inspiring_joke() -> str:
    setup()
    pause_flow_run(timeout=60)
    return "it's a wonder none of them ducked!"


print(inspiring_joke())
"""

CHATTY = """
from kflow import flow, get_run_logger, task


@task
def shout(word: str) -> str:
    get_run_logger().warning("task says %s", word)
    return word


@flow(flow_run_name="chatty", log_prints=True)
def chatty() -> dict[str, int]:
    get_run_logger().info("Hello from the flow")
    print("printed under log_prints")
    shout("hi")
    return {"answer": 42}


chatty()
"""


def script(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.py"
    path.write_text(text)
    return path


def test_resume_by_name_and_the_run_completes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = start_flow(home, script(tmp_path, PAUSING))
    run = wait_for_run(home, "PAUSED", process)

    resumed = kflow(home, "flow-run", "resume", "--local", "joke")
    out, err = finish(process)

    assert resumed.returncode == 0, resumed.stderr
    assert f"Resumed flow run 'joke' ({run.id})" in resumed.stdout
    assert process.returncode == 0, err[-3000:]
    assert "it's a wonder none of them ducked!" in out
    assert History.at(home).flow_run(run.id).state.type == "COMPLETED"  # type: ignore[union-attr]


def test_cancel_a_paused_run_by_id_prefix(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = start_flow(home, script(tmp_path, PAUSING))
    run = wait_for_run(home, "PAUSED", process)

    cancelled = kflow(home, "flow-run", "cancel", "--local", run.id[:8])
    out, err = finish(process)

    assert cancelled.returncode == 0, cancelled.stderr
    assert "Flow run 'joke' is CANCELLED" in cancelled.stdout
    assert process.returncode == 143, err[-3000:]
    assert "HOOK on_cancellation CANCELLED" in out


def _two_runs(home: Path) -> tuple[FlowRun, FlowRun]:
    """A finished run and a running one (of this process), ids sharing their first 4 chars."""
    backend = LocalHistoryBackend(home)
    done = FlowRun("abcd0000-0000-0000-0000-000000000001", "done-dodo", "f", {})
    running = FlowRun("abcd1111-0000-0000-0000-000000000002", "busy-bee", "f", {})
    for run, state in ((done, Completed()), (running, Running())):
        backend.create_flow_run(run)
        backend.set_flow_run_state(run, state)
    backend.close()
    return done, running


def test_unknown_and_ambiguous_runs_say_what_to_do(tmp_path: Path) -> None:
    done, running = _two_runs(tmp_path)
    for command in ("cancel", "resume", "logs"):
        unknown = kflow(tmp_path, "flow-run", command, "--local", "nope")
        assert unknown.returncode == 1
        assert unknown.stderr.startswith("error: no flow run 'nope' in the local history")
        assert "`kflow flow-run ls --local`" in unknown.stderr
        assert len(unknown.stderr.splitlines()) == 1

        ambiguous = kflow(tmp_path, "flow-run", command, "--local", "abcd")
        assert ambiguous.returncode == 1
        assert "'abcd' matches 2 flow runs; give more of the id:" in ambiguous.stderr
        assert f"  {done.id}  done-dodo" in ambiguous.stderr
        assert f"  {running.id}  busy-bee" in ambiguous.stderr


def test_cancel_and_resume_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    _two_runs(tmp_path)
    ended = kflow(tmp_path, "flow-run", "cancel", "--local", "done-dodo")
    assert ended.returncode == 1
    assert "already ended (COMPLETED); there is nothing to cancel" in ended.stderr

    not_paused = kflow(tmp_path, "flow-run", "resume", "--local", "busy-bee")
    assert not_paused.returncode == 1
    assert "is not paused (state RUNNING); only a PAUSED run can be resumed" in not_paused.stderr


def test_logs_prints_the_runs_lines_as_its_console_did(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ran = subprocess.run(
        [sys.executable, str(script(tmp_path, CHATTY))],
        env=environment(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr

    logs = kflow(home, "flow-run", "logs", "--local", "chatty")

    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    label = r"(kflow\.engine|(Flow|Task) run '[^']+')"
    line = re.compile(rf"^\d\d:\d\d:\d\d\.\d{{3}} \| (INFO   |WARNING) \| {label} - ")
    assert all(line.match(text) for text in lines), lines
    messages = [text.split(" - ", 1)[1] for text in lines]
    assert messages[0] == "Created flow run 'chatty' for flow 'chatty'"
    for expected in ("Hello from the flow", "printed under log_prints", "task says hi"):
        assert expected in messages
    assert messages[-1] == "Finished in state Completed()"
    # The same lines the console showed, in the same order.
    console = [text.split(" - ", 1)[1] for text in ran.stderr.splitlines() if " - " in text]
    assert [m for m in console if m in messages] == messages


def test_logs_follow_prints_until_the_run_ends(tmp_path: Path) -> None:
    home = tmp_path / "home"
    slow = tmp_path / "slow.py"
    slow.write_text(
        textwrap.dedent(
            """
            import time
            from kflow import flow, get_run_logger

            @flow(flow_run_name="slow")
            def slow() -> None:
                for i in range(30):
                    get_run_logger().info("tick %d", i)
                    time.sleep(0.05)

            slow()
            """
        )
    )
    process = start_flow(home, slow)
    wait_for_run(home, "RUNNING", process)

    followed = kflow(home, "flow-run", "logs", "--local", "-f", "slow")
    finish(process)

    assert followed.returncode == 0, followed.stderr
    assert "tick 29" in followed.stdout
    assert followed.stdout.splitlines()[-1].endswith("Finished in state Completed()")


def test_log_lines_kept_per_run_are_capped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    capped = tmp_path / "capped.py"
    capped.write_text(
        textwrap.dedent(
            """
            from kflow import flow, get_run_logger
            from kflow.history import run_logs

            run_logs.LOG_LINES_PER_RUN = 5

            @flow(flow_run_name="capped")
            def capped() -> None:
                for i in range(50):
                    get_run_logger().info("line %d", i)

            capped()
            """
        )
    )
    ran = subprocess.run(
        [sys.executable, str(capped)], env=environment(home), capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert "line 49" in ran.stderr  # the console shows everything

    history = History.at(home)
    lines = history.logs(history.flow_run("capped").id)

    assert len(lines) == 6
    assert [line.message for line in lines[2:5]] == ["line 0", "line 1", "line 2"]
    assert "more than 5 lines: later lines are not kept" in lines[5].message
