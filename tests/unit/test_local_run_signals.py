"""A local run stopped from outside ends in a final state: SIGTERM → CRASHED with its hooks and
exit status 143, SIGKILL → CRASHED the next time the history is read, `kflow flow-run cancel
--local` → CANCELLED with its hooks; a PID now used by another program is never taken for the
run's process. Real flow processes, real signals, read back through the CLI."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest
from kflow.backend import FlowRun
from kflow.history.local_backend import LocalHistoryBackend
from kflow.history.queries import History
from kflow.states import Running

from tests.support.local_runs import finish, kflow, start_flow, wait_for_run

LONG_RUNNING = """
import time
from kflow import flow, get_run_logger, task


def on_crashed(flow, flow_run, state):
    print("HOOK on_crashed", state.type.value, flush=True)


def on_cancellation(flow, flow_run, state):
    print("HOOK on_cancellation", state.type.value, flush=True)


@task
def step(i: int) -> int:
    get_run_logger().info("step %d", i)
    return i


@flow(flow_run_name="signal-target", on_crashed=[on_crashed], on_cancellation=[on_cancellation])
{define} long_running() -> None:
    # Short sleeps: a signal landing just before a blocking call is handled when it returns.
    for i in range(100_000):
        step(i)
        {sleep}(0.02)

{call}
"""
SYNC = {"define": "def", "sleep": "time.sleep", "call": "long_running()"}
ASYNC = {
    "define": "async def",
    "sleep": "await asyncio.sleep",
    "call": "import asyncio\nasyncio.run(long_running())",
}


def flow_script(tmp_path: Path, flavour: dict[str, str] = SYNC) -> Path:
    script = tmp_path / "long_running.py"
    script.write_text(LONG_RUNNING.format(**flavour))
    return script


def ls_states(home: Path) -> dict[str, str]:
    listed = kflow(home, "flow-run", "ls", "--local", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    return {run["name"]: run["state"]["type"] for run in json.loads(listed.stdout)["items"]}


@pytest.mark.parametrize("flavour", [SYNC, ASYNC], ids=["sync", "async"])
def test_sigterm_ends_the_run_crashed_runs_on_crashed_and_exits_143(
    tmp_path: Path, flavour: dict[str, str]
) -> None:
    home = tmp_path / "home"
    process = start_flow(home, flow_script(tmp_path, flavour))
    wait_for_run(home, "RUNNING", process, min_task_runs=2)

    process.send_signal(signal.SIGTERM)
    out, err = finish(process)

    assert process.returncode == 143, err[-3000:]
    assert "HOOK on_crashed CRASHED" in out
    assert "HOOK on_cancellation" not in out
    assert ls_states(home) == {"signal-target": "CRASHED"}
    inspected = kflow(home, "flow-run", "inspect", "signal-target", "--local").stdout
    assert "received SIGTERM without a cancellation request" in inspected


def test_a_killed_run_is_shown_crashed_the_next_time_the_history_is_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = start_flow(home, flow_script(tmp_path))
    run = wait_for_run(home, "RUNNING", process, min_task_runs=2)

    process.send_signal(signal.SIGKILL)
    finish(process)
    assert process.returncode == -signal.SIGKILL

    listed = kflow(home, "flow-run", "ls", "--local")
    assert listed.stdout.splitlines()[1].split()[3] == "CRASHED", listed.stdout
    assert "so far" not in listed.stdout  # it has ended: no duration still growing
    inspected = kflow(home, "flow-run", "inspect", run.id, "--local", "-o", "json")
    document = json.loads(inspected.stdout)
    assert "is gone without reporting a final state" in document["state"]["message"]
    assert document["endTime"] is not None
    # None of its task runs is left RUNNING either.
    assert set(document["taskRuns"]["counts"]) <= {"COMPLETED", "CRASHED"}
    assert [s["type"] for s in document["stateHistory"]][-2:] == ["RUNNING", "CRASHED"]


def test_a_pid_now_used_by_another_program_is_neither_alive_nor_signalled(
    tmp_path: Path,
) -> None:
    """A run recorded RUNNING with the PID of a live process that started at another time."""
    from kflow.processes import process_id_of

    home = tmp_path / "home"
    other_program = subprocess.Popen(["sleep", "60"])
    try:
        backend = LocalHistoryBackend(home)
        run = FlowRun("0eed0000-0000-0000-0000-000000000001", "reused-pid", "victim", {})
        backend.create_flow_run(run)
        backend.set_flow_run_state(run, Running())
        backend.close()
        live = process_id_of(other_program.pid)
        with sqlite3.connect(home / "history.db") as db:
            db.execute(
                "UPDATE flow_runs SET pid = ?, process_start_ticks = ? WHERE id = ?",
                (live.pid, live.start_ticks - 1, run.id),
            )

        cancelled = kflow(home, "flow-run", "cancel", "--local", "reused-pid")

        assert cancelled.returncode == 1
        assert "already ended (CRASHED)" in cancelled.stderr
        assert other_program.poll() is None, "the other program was signalled"
        assert ls_states(home) == {"reused-pid": "CRASHED"}
    finally:
        other_program.kill()
        other_program.wait()


def test_cancel_local_signals_the_run_which_ends_cancelled_with_its_hooks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = start_flow(home, flow_script(tmp_path))
    run = wait_for_run(home, "RUNNING", process, min_task_runs=2)

    cancelled = kflow(home, "flow-run", "cancel", "--local", "signal-target")
    out, err = finish(process)

    assert cancelled.returncode == 0, cancelled.stderr
    assert f"SIGTERM sent to its process {run.pid}" in cancelled.stdout
    assert "Flow run 'signal-target' is CANCELLED" in cancelled.stdout
    assert process.returncode == 143, err[-3000:]
    assert "HOOK on_cancellation CANCELLED" in out
    assert "HOOK on_crashed" not in out
    states = [s.type for s in History.at(home).flow_run_states(run.id)]
    assert states[-2:] == ["CANCELLING", "CANCELLED"]


def test_cancel_kills_a_process_that_ignores_sigterm_and_records_it_cancelled(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    script = tmp_path / "stubborn.py"
    script.write_text(
        textwrap.dedent(
            """
            import signal, time
            from kflow import flow

            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # its own choice: kflow keeps it

            @flow(flow_run_name="stubborn")
            def stubborn() -> None:
                while True:
                    time.sleep(0.02)

            stubborn()
            """
        )
    )
    process = start_flow(home, script)
    wait_for_run(home, "RUNNING", process)

    cancelled = kflow(home, "flow-run", "cancel", "--local", "stubborn", "--grace-period", "1")
    finish(process)

    assert cancelled.returncode == 0, cancelled.stderr
    assert "did not stop within 1 s of SIGTERM: killing it" in cancelled.stderr
    assert process.returncode == -signal.SIGKILL
    assert ls_states(home) == {"stubborn": "CANCELLED"}
