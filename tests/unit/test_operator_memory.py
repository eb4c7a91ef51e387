"""What the operator keeps per run once it is done with it, and how its allocator is set up
(issue 16: RSS with thousands of terminal FlowRuns)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import kopf
import pytest
from kflow_operator.handlers import flowruns
from kflow_operator.memory import give_back_free_memory, limit_malloc_arenas
from kopf._cogs.aiokits.aioenums import (
    FlagSetter,
)  # not re-exported: what Kopf builds a stopped flag on


class EndingSupervisor:
    """Stands in for a supervisor whose run ends at once (a run settled to FAILED)."""

    def __init__(self, context: Any, body: dict[str, Any]) -> None:
        self.body = body
        self.active = True

    async def run(self, stopped: Any, memo: kopf.Memo) -> None:
        self.active = False


def test_an_ended_supervisor_is_not_kept_in_the_runs_memo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kopf keeps each object's memo while the object exists: the supervisor (with the run's
    body) must not stay there after its daemon ended, or every terminal run keeps one."""
    monkeypatch.setattr(flowruns, "Supervisor", EndingSupervisor)
    memo = kopf.Memo(context=object())
    body = kopf.Body({"metadata": {"namespace": "ns", "name": "run-1"}})

    async def supervise() -> None:
        daemon: Any = flowruns.supervise_flowrun  # Kopf types it as a DaemonFn
        await daemon(body=body, memo=memo, stopped=kopf.DaemonStopped(FlagSetter()))

    asyncio.run(supervise())

    assert "supervisor" not in memo
    assert memo.context is not None


def test_malloc_arenas_are_capped_on_glibc() -> None:
    assert limit_malloc_arenas() is True


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_free_memory_below_live_objects_goes_back_to_the_system() -> None:
    """glibc returns only the free space at the top of its heap: after a burst, memory freed
    below an object still alive stayed in the process (RSS 518 MiB, 38 MiB in use)."""
    burst = [bytes(2048) + bytes([i % 256]) for i in range(60_000)]  # ~120 MiB from malloc
    kept = bytes(2048) + b"alive"  # allocated last: pins the top of the heap
    del burst
    before = rss_bytes()
    assert give_back_free_memory()
    after = rss_bytes()
    assert kept.endswith(b"alive")
    assert before - after > 64 * 2**20, f"RSS {before / 2**20:.0f} -> {after / 2**20:.0f} MiB"
