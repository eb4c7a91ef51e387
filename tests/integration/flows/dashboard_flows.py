"""Flows the dashboard's browser tests start: one that runs until the test lets it finish."""

from __future__ import annotations

import os
import time
from pathlib import Path

from kflow import flow, get_run_logger, pause_flow_run, task

MARKS = Path(os.environ.get("TEST_MARKS", "/tmp"))
LONGEST_SECONDS = 120.0


@task
def greet(label: str) -> str:
    return f"hello {label}"


@flow
def gated(label: str, times: int = 1) -> dict[str, object]:
    """Runs a task, then waits for the mark file `finish` (at most two minutes); logs a line
    when the mark file `say` appears meanwhile."""
    greetings = [greet(label) for _ in range(times)]
    deadline = time.monotonic() + LONGEST_SECONDS
    said = False
    while not (MARKS / "finish").exists() and time.monotonic() < deadline:
        if not said and (MARKS / "say").exists():
            get_run_logger().info("heard %s", (MARKS / "say").read_text())
            said = True
        time.sleep(0.05)
    return {"greetings": greetings}


@flow
def pauses(label: str) -> str:
    """Greets, pauses until resumed (at most two minutes), greets again."""
    first = greet(label)
    pause_flow_run(timeout=LONGEST_SECONDS)
    return f"{first}, then {greet(label + ' again')}"
