"""Flows the launcher e2e tests run inside containers and Job pods (image: tests.support.images).

Each prints a marker line, so a test can tell from the run's logs what happened inside.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from kflow import flow


@flow
def adds(a: int, b: int) -> int:
    print(f"adding {a} and {b}", flush=True)
    return a + b


@flow
def fails() -> None:
    raise ValueError("the flow failed on purpose")


@flow
def sleeps(seconds: float) -> str:
    print(f"sleeping {seconds}s", flush=True)
    time.sleep(seconds)
    return "woke up"


def note_cancellation(flow: Any, flow_run: Any, state: Any) -> None:
    print(f"on_cancellation hook ran: {state.type.value}", flush=True)


@flow(on_cancellation=[note_cancellation])
def waits_for_cancel() -> None:
    print("waiting to be cancelled", flush=True)
    for _ in range(6000):
        time.sleep(0.1)


@flow
def ignores_sigterm() -> None:
    """Unresponsive: SIGTERM ignored, the main thread stuck in one long C-level sleep."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring SIGTERM", flush=True)
    time.sleep(600)


@flow
def hogs_memory(megabytes: int) -> None:
    print(f"allocating {megabytes} MiB", flush=True)
    chunks = [b"x" * (1 << 20) for _ in range(megabytes)]
    print(f"allocated {len(chunks)} MiB", flush=True)
