"""Flows for the bad-input corner tests: non-ASCII run names and parameters, big parameters."""

from __future__ import annotations

import time

from kflow import flow


@flow(flow_run_name="実行-🚀-{label}")
def named(label: str) -> str:
    print(f"こんにちは {label} 🌸", flush=True)
    return f"済み {label}"


@flow
def measures(text: str) -> int:
    """Returns the parameter's length only: the 1 MiB parameter never travels back."""
    print(f"received {len(text)} characters", flush=True)
    return len(text)


@flow
def echoes(text: str) -> str:
    """Returns the parameter itself: a 1 MiB result the status must not carry inline."""
    return text


@flow
def holds(label: str, seconds: float = 6) -> str:
    """Runs `seconds`, then returns the label it started with."""
    print(f"started with {label}", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return label
