"""Waiting on a condition with a deadline, the one way the integration tests and the cluster
benchmarks wait (no sleeps as synchronisation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.cluster.kubectl import poll


def wait_until(
    what: str, probe: Callable[[], Any], timeout: float = 30, interval: float = 0.05
) -> Any:
    """Call `probe` until it returns something truthy, and return that; TimeoutError naming
    `what` after `timeout` seconds."""
    return poll(what, probe, timeout, interval)
