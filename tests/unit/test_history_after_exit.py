"""Every task run of a flow is in the local history once the process has exited.

Prefect 3 loses most of them (its events are still in flight when the process ends); kflow
must not lose one, whether the tasks were called directly or submitted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from kflow.history.queries import History

SCRIPT = textwrap.dedent(
    """
    from kflow import flow, task

    @task
    def noop(i: int) -> int:
        return i

    @flow
    def thousand_sequential() -> None:
        for i in range(1000):
            noop(i)

    @flow
    def thousand_submitted() -> None:
        for future in [noop.submit(i) for i in range(1000)]:
            future.result()

    thousand_sequential()
    thousand_submitted()
    """
)


def test_all_task_runs_are_recorded_after_the_process_exits(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]

    history = History.at(tmp_path)
    runs = {run.flow_name: run for run in history.flow_runs()}
    assert set(runs) == {"thousand-sequential", "thousand-submitted"}
    for run in runs.values():
        assert run.state is not None and run.state.type == "COMPLETED"
        tasks = history.task_runs(run.id)
        assert len(tasks) == 1000
        assert len({t.id for t in tasks}) == 1000
        assert all(t.state is not None and t.state.type == "COMPLETED" for t in tasks)
        assert sorted(t.dynamic_key for t in tasks) == list(range(1000))
