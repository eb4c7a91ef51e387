"""Flows the chaos tests run: each start of a run is recorded, so a test can tell a run that
started twice from one that started once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from kflow import flow
from kflow.processes import own_process_id

STARTS = Path(os.environ.get("CHAOS_STARTS", "/tmp/chaos-starts.log"))


def record_start() -> None:
    with STARTS.open("a") as out:
        # PID@start-ticks: PIDs wrap around quickly on a busy machine (pid_max is 32768 here).
        out.write(f"{os.environ.get('KFLOW_FLOW_RUN_NAME', '?')} {own_process_id().format()}\n")


@flow
def recorded(seconds: float = 0) -> str:
    record_start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return "done"


@flow
def stubborn(seconds: float = 300) -> None:
    """Ignores SIGTERM and the cancellation raised into it: only SIGKILL stops it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    record_start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(BaseException):
            time.sleep(0.05)
