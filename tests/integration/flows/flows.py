"""Flows the FlowRun integration tests run through the operator and `kflow execute`."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kflow import flow, pause_flow_run, task
from kflow.cache_policies import INPUTS

MARKS = Path(os.environ.get("TEST_MARKS", "/tmp"))


def mark(name: str) -> None:
    (MARKS / name).write_text("x")


@task
def double(x: int) -> int:
    return x * 2


@flow
def sums(n: int, label: str = "default") -> dict[str, Any]:
    return {"total": sum(double(i) for i in range(n)), "label": label}


@flow
def fails() -> None:
    double(1)
    raise ValueError("the flow broke on purpose")


def note_cancel(*_: Any) -> None:
    mark("on_cancellation")


def note_crash(*_: Any) -> None:
    mark("on_crashed")


@flow(on_cancellation=[note_cancel], on_crashed=[note_crash])
def waits(seconds: float = 120) -> None:
    double(1)
    mark("started")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


@flow
def stubborn(seconds: float = 120) -> None:
    """Ignores SIGTERM and swallows the cancellation raised into it: only SIGKILL stops it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    mark("started")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(BaseException):  # the cancellation raised into the flow
            time.sleep(0.05)


@task(persist_result=True)
def counted(name: str) -> str:
    with (MARKS / f"ran-{name}").open("a") as out:
        out.write("x")
    return name


@flow(persist_result=True)
def suspends() -> list[str]:
    first = counted("first")
    pause_flow_run(timeout=120, reschedule=True)
    second = counted("second")
    return [first, second]


@flow
def talks(lines: int = 5, pause: float = 0.3) -> int:
    """Prints a numbered line every `pause` seconds: output to follow while the run goes on."""
    for number in range(1, lines + 1):
        print(f"line {number} of {lines}", flush=True)
        time.sleep(pause)
    return lines


@flow
def chains(n: int = 2) -> dict[str, Any]:
    """Runs the Deployment `summer` as its subflow (run_deployment inside a cluster run)."""
    from kflow.deployments import run_deployment

    child = run_deployment("sums/summer", parameters={"n": n}, timeout=120)
    return {"child": child.name, "state": child.state.type.value, "result": child.state.result()}


@flow
def big(size: int = 20000) -> str:
    """A result too big for the FlowRun's status: kept in result storage, referenced."""
    return "x" * size


@task(cache_policy=INPUTS, persist_result=True)
def expensive(x: int) -> int:
    """Counts its executions in $TEST_MARKS/expensive-runs: a cache hit adds nothing."""
    with (MARKS / "expensive-runs").open("a") as runs:
        runs.write("x")
    return x * 10


@flow
def cached(x: int = 4) -> int:
    return expensive(x)


@flow
def leaves_work_for_exit() -> str:
    """Returns with work the interpreter's exit still does: a non-daemon thread to wait for,
    atexit callbacks (one leaves output with no line end, flushed only by the exit) and a
    thread pool left open."""

    def late() -> None:
        time.sleep(0.5)
        mark("thread-finished")

    (MARKS / "parent").write_bytes(Path(f"/proc/{os.getppid()}/cmdline").read_bytes())
    threading.Thread(target=late).start()
    atexit.register(mark, "atexit-ran")
    atexit.register(print, "the last words, unterminated", end="")
    ThreadPoolExecutor(1).submit(mark, "pool-ran")
    return "returned"
