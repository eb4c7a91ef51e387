"""The operator's connections to the API server are cut mid-stream, again and again, during a
500-run burst (every connection through a proxy the test controls is closed at once, watches
included): no run is lost, none is started or ended twice."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.chaos.conftest import Chaos, not_ended_once
from tests.chaos.tcp_proxy import CuttableProxy
from tests.support.waiting import wait_until

pytestmark = pytest.mark.chaos

BURST = 500
REAL_RUNS = 40
"""Runs that start a flow process; the rest name a Deployment that does not exist and settle
with one status write, so the burst loads the operator, not the machine's CPU."""
CUT_EVERY_SECONDS = 1.5
MAX_CUTS = 12
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def spec(index: int) -> dict[str, Any]:
    if index % (BURST // REAL_RUNS) == 0:
        return {"entrypoint": "chaos_flows.py:recorded", "infrastructure": {"type": "process"}}
    return {"deploymentRef": {"name": "absent"}}


def test_a_burst_survives_its_connections_being_cut(chaos: Chaos) -> None:
    with CuttableProxy(chaos.plane.port) as proxy:
        operator = chaos.start_operator(kubeconfig=chaos.plane.kubeconfig_via(proxy.port))
        stop_cutting = threading.Event()
        cut_connections: list[int] = []

        def cutter() -> None:
            while len(cut_connections) < MAX_CUTS and not stop_cutting.wait(CUT_EVERY_SECONDS):
                cut_connections.append(proxy.cut())

        cutting = threading.Thread(target=cutter, name="cutter", daemon=True)
        cutting.start()
        names = [f"burst-{index:03d}" for index in range(BURST)]
        began = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda pair: chaos.create("flowruns", "FlowRun", pair[1], spec(pair[0])),
                    enumerate(names),
                )
            )

        def unsettled() -> list[str]:
            states = {
                run["metadata"]["name"]: ((run.get("status") or {}).get("state") or {}).get("type")
                for run in chaos.flowruns()
            }
            return [name for name in names if states.get(name) not in TERMINAL]

        try:
            wait_until("all 500 runs ended", lambda: not unsettled(), timeout=300, interval=1)
        finally:
            stop_cutting.set()
            cutting.join(10)
        took = time.monotonic() - began
        assert operator.alive(), operator.log_tail()

    runs = {run["metadata"]["name"]: run for run in chaos.flowruns()}
    lost = [name for name in names if name not in runs]
    assert not lost, f"runs lost: {lost}"
    ended_twice = not_ended_once(runs, names)
    assert not ended_twice, (
        f"runs with other than one terminal state in their history: {ended_twice}"
    )
    starts = chaos.starts()
    real = [name for index, name in enumerate(names) if "entrypoint" in spec(index)]
    twice = {name: starts[name] for name in real if starts[name] != 1}
    assert not twice, f"runs started other than once: {twice}"
    states = [runs[name]["status"]["state"]["type"] for name in real]
    assert states == ["COMPLETED"] * len(real), states
    print(
        f"\n{BURST}-run burst: {len(cut_connections)} cuts closed {sum(cut_connections)} "
        f"connections; all ended; runs lost 0, started twice 0, ended twice 0; "
        f"created and ended within {took:.1f}s"
    )
