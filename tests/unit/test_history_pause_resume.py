"""A local run paused in one process is resumed by `resume_flow_run(id)` in another."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from kflow.history.queries import History

PAUSING_FLOW = textwrap.dedent(
    """
    from kflow import flow, pause_flow_run, task

    @task
    def setup() -> str:
        return "a raft of ducks walk into a bar..."

    @task
    def punchline() -> str:
        return "it's a wonder none of them ducked!"

    @flow
    def inspiring_joke() -> str:
        setup()
        pause_flow_run(timeout=30)
        return punchline()

    print(inspiring_joke())
    """
)
RESUMER = "import sys; from kflow import resume_flow_run; resume_flow_run(sys.argv[1])"


def test_resume_from_another_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(tmp_path)
    flow_process = subprocess.Popen(
        [sys.executable, "-c", PAUSING_FLOW],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        history = History.at(tmp_path)
        deadline = time.monotonic() + 20
        paused_id = None
        while paused_id is None and time.monotonic() < deadline:
            runs = history.flow_runs()
            if runs and runs[0].state is not None and runs[0].state.type == "PAUSED":
                paused_id = runs[0].id
            else:
                time.sleep(0.02)
        if paused_id is None:
            pytest.fail("the flow run was not seen PAUSED in the history within 20 s")

        resumer = subprocess.run(
            [sys.executable, "-c", RESUMER, paused_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert resumer.returncode == 0, resumer.stderr
        stdout, stderr = flow_process.communicate(timeout=30)
    finally:
        if flow_process.poll() is None:
            flow_process.kill()
            flow_process.communicate()
    assert flow_process.returncode == 0, stderr
    assert "it's a wonder none of them ducked!" in stdout
    assert [s.type for s in history.flow_run_states(paused_id)] == [
        "PENDING",
        "RUNNING",
        "PAUSED",
        "RUNNING",
        "COMPLETED",
    ]


def test_resume_of_an_unknown_run_says_where_it_looked(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", RESUMER, "no-such-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"no flow run with id 'no-such-run' in the local history at {tmp_path}" in result.stderr
