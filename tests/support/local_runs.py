"""Running local flows and the `kflow` CLI as a user does: real processes on a private
KFLOW_HOME, waited for by condition with a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kflow.history.queries import FlowRunRecord, History

T = TypeVar("T")
POLL_SECONDS = 0.02


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(home)
    env.pop("KUBECONFIG", None)  # the local history, whatever the developer's cluster
    return env


def kflow(
    home: Path, *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`kflow ARGS` as a user runs it, against `home`'s history."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from kflow.cli import main; sys.exit(main())", *args],
        env=environment(home),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_flow(home: Path, script: Path) -> subprocess.Popen[str]:
    """`python SCRIPT` in its own session (a signal to it reaches nothing else)."""
    return subprocess.Popen(
        [sys.executable, str(script)],
        env=environment(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """The condition's first truthy value; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def wait_for_run(
    home: Path,
    state_type: str,
    process: subprocess.Popen[str] | None = None,
    min_task_runs: int = 0,
) -> FlowRunRecord:
    """The newest top-level run once it is in `state_type` with `min_task_runs` task runs."""
    history = History.at(home)

    def found() -> FlowRunRecord | None:
        if process is not None and process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"the flow process exited {process.returncode}:\n{err[-3000:]}")
        runs = [r for r in history.flow_runs() if r.parent_flow_run_id is None]
        if not runs or runs[0].state is None or runs[0].state.type != state_type:
            return None
        if history.count_task_runs(runs[0].id) < min_task_runs:
            return None
        return runs[0]

    return wait_for(found, f"a flow run {state_type} with {min_task_runs}+ task runs")


def finish(process: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """The process's output once it has exited (killed if it outlives `timeout`)."""
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
