"""What the operator keeps per run once it is done with it, and how its allocator is set up
(issue 16: RSS with thousands of terminal FlowRuns)."""

from __future__ import annotations

import os

from kflow_operator.memory import give_back_free_memory, limit_malloc_arenas


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
