"""The operator is killed by the kernel's OOM killer in the middle of a burst (a memory cgroup
whose limit sits just above what it uses when idle), then started again with room, as one
raises a pod's limit after `OOMKilled`: no run is lost and none ends twice."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.chaos.conftest import Chaos, not_ended_once
from tests.chaos.memory_cgroup import MemoryCgroup
from tests.support.waiting import wait_until

pytestmark = pytest.mark.chaos

BURST = 3000
HEADROOM = 24 * 1024 * 1024
"""Above the idle operator's usage: a burst of FlowRuns outgrows it (#16 measured ~60 KiB per
FlowRun held), so the OOM killer, not the test, ends the operator."""
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def test_an_operator_killed_for_memory_loses_nothing(chaos: Chaos) -> None:
    cgroup = MemoryCgroup()
    try:
        cgroup.set_limit(2 * 1024**3)
        operator = chaos.start_operator(wrapper=cgroup.wrapper())
        idle = cgroup.usage()
        cgroup.set_limit(idle + HEADROOM)
        names = [f"oom-{index:04d}" for index in range(BURST)]
        began = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda name: chaos.create(
                        "flowruns", "FlowRun", name, {"deploymentRef": {"name": "absent"}}
                    ),
                    names,
                )
            )
        wait_until("the OOM killer ends the operator", lambda: not operator.alive(), timeout=180)
        assert operator.popen.returncode == -9, operator.log_tail()
        assert cgroup.oom_kills() >= 1
        killed_after = time.monotonic() - began

        cgroup.set_limit(idle + 1024 * 1024 * 1024)
        chaos.start_operator(wrapper=cgroup.wrapper())
        restarted = time.monotonic()

        def unsettled() -> int:
            states = {
                run["metadata"]["name"]: ((run.get("status") or {}).get("state") or {}).get("type")
                for run in chaos.flowruns()
            }
            return sum(states.get(name) not in TERMINAL for name in names)

        wait_until("every run ended", lambda: unsettled() == 0, timeout=300, interval=2)
        recovered = time.monotonic() - restarted
        runs = {run["metadata"]["name"]: run for run in chaos.flowruns()}
        lost = [name for name in names if name not in runs]
        assert not lost
        ended_twice = not_ended_once(runs, names)
        assert not ended_twice, ended_twice
        print(
            f"\noperator OOM-killed {killed_after:.1f}s into a {BURST}-run burst "
            f"(limit {(idle + HEADROOM) / 2**20:.0f} MiB); restarted, all runs ended "
            f"{recovered:.1f}s later; runs lost 0, ended twice 0"
        )
    finally:
        for operator in chaos.operators:
            operator.stop()
        cgroup.remove()
