"""The sample flow runs as a newcomer runs it, finishes quickly, and lands in the history."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

from kflow.history.queries import History

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "example_flow.py"


def run_example(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_example_flow_completes_with_its_defaults(tmp_path: Path) -> None:
    result = run_example(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Hello, kflow!" in output
    assert "Sum of 5 squares: 55" in output
    assert "WARNING | Task run 'square-" in output  # -4 is among the defaults
    assert output.rstrip().endswith("Finished in state Completed()")

    (run,) = History.at(tmp_path).flow_runs()
    assert run.flow_name == "example-workflow"
    assert run.state is not None and run.state.type == "COMPLETED"
    tasks = History.at(tmp_path).task_runs(run.id)
    assert sorted(t.task_name for t in tasks) == ["greet", *["square"] * 5, "total"]
    assert all(t.state is not None and t.state.type == "COMPLETED" for t in tasks)
    assert all(t.run_count == 1 for t in tasks)  # no retry on the happy path


def test_example_flow_takes_a_name_and_numbers_and_logs_what_it_leaves_out(
    tmp_path: Path,
) -> None:
    result = run_example(tmp_path, "Marvin", "3", "nan", "-4")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Hello, Marvin!" in output
    assert "ERROR   | Flow run" in output and "nan is not a finite number" in output
    assert "Sum of 2 squares: 25.0" in output
    (run,) = History.at(tmp_path).flow_runs()
    assert run.parameters["name"] == "Marvin"
    first, second, third = run.parameters["numbers"]
    assert (first, third) == (3.0, -4.0)
    assert math.isnan(second)
