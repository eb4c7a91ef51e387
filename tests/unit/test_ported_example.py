"""examples/ported_prefect_flow.py, a Prefect 3 flow whose only change is its imports, runs on
kflow: the transient failure is retried, and a second process on the same KFLOW_HOME is served
its fetched and cleaned readings from the cache."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tokenize
from pathlib import Path

from kflow.history.queries import History

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ported_prefect_flow.py"


def run_example(home: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFLOW_")}
    env["KFLOW_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_only_the_imports_name_kflow() -> None:
    lines_naming_kflow = {
        token.start[0]
        for token in tokenize.generate_tokens(io.StringIO(EXAMPLE.read_text()).readline)
        if token.type == tokenize.NAME and token.string == "kflow"
    }
    source = EXAMPLE.read_text().splitlines()
    assert lines_naming_kflow
    for line in sorted(lines_naming_kflow):
        assert source[line - 1].startswith("from kflow"), source[line - 1]


def test_the_ported_flow_retries_then_caches_across_processes(tmp_path: Path) -> None:
    first = run_example(tmp_path)
    assert "Received non-final state 'AwaitingRetry'" in first
    assert "ConnectionError: the source for station-2 timed out" in first
    assert first.count("Finished in state Cached(type=COMPLETED)") == 0
    for station in ("station-1", "station-2", "station-3"):
        assert f"{station}: " in first

    second = run_example(tmp_path)
    assert "AwaitingRetry" not in second, "the fetch was cached: nothing to retry"
    assert second.count("Finished in state Cached(type=COMPLETED)") == 6  # 3 fetches, 3 cleans
    report = [line.split(" - ", 1)[1] for line in first.splitlines() if "hours, mean" in line]
    assert report == [
        line.split(" - ", 1)[1] for line in second.splitlines() if "hours, mean" in line
    ]

    history = History.at(tmp_path)
    latest = history.flow_runs()[0]
    states = {t.name: t.state for t in history.task_runs(latest.id)}
    cached = sorted(name for name, state in states.items() if state and state.name == "Cached")
    assert [name.split("-")[0] for name in cached] == ["clean"] * 3 + ["fetch_readings"] * 3
    assert all(
        state is not None and state.name == "Completed"
        for name, state in states.items()
        if name.startswith("summarise-")
    )
