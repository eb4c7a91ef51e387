"""One benchmark workload, run as a fresh process by either framework's interpreter.

Usage: python workload.py FRAMEWORK SCENARIO COUNT
  FRAMEWORK  kflow | prefect (the module `flow`, `task` and `runtime` come from)
  SCENARIO   import | empty | sequential | submit | subflow
  COUNT      how many task calls, submits or subflow calls the flow makes

The same source drives both frameworks so the only difference between two measurements is
the framework. The last line printed on stdout is a JSON object the harness reads: for the
scenarios with calls, the wall time of the flow with COUNT calls and of an empty flow run
just before it in the same process (each flow call includes whatever the framework does to
record the run before the call returns).
This file must run with nothing but the framework installed: it imports nothing from bench.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

SCENARIOS = ("import", "empty", "sequential", "submit", "subflow")


def main(framework: str, scenario: str, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    package = importlib.import_module(framework)
    flow: Callable[[Callable[..., Any]], Any] = package.flow
    task: Callable[[Callable[..., Any]], Any] = package.task
    flow_run = importlib.import_module(f"{framework}.runtime").flow_run
    import_seconds = time.perf_counter() - started
    if scenario == "import":
        return {"import_seconds": import_seconds}

    flow_run_ids: list[str] = []

    @task
    def noop() -> None:
        return None

    @flow
    def child() -> None:
        return None

    @flow
    def bench_flow(scenario: str, count: int) -> None:
        flow_run_ids.append(str(flow_run.id))
        if scenario == "sequential":
            for _ in range(count):
                noop()
        elif scenario == "submit":
            futures = [noop.submit() for _ in range(count)]
            for future in futures:
                future.result()
        elif scenario == "subflow":
            for _ in range(count):
                child()

    if scenario == "empty":
        bench_flow("empty", 0)
        return {"import_seconds": import_seconds, "flow_run_id": flow_run_ids[-1]}
    # A first flow pays one-off costs (Prefect starts its server here); an empty flow timed
    # next is the baseline that the flow with `count` calls is compared against.
    bench_flow("empty", 0)
    started = time.perf_counter()
    bench_flow("empty", 0)
    empty_flow_seconds = time.perf_counter() - started
    started = time.perf_counter()
    bench_flow(scenario, count)
    flow_seconds = time.perf_counter() - started
    return {
        "import_seconds": import_seconds,
        "empty_flow_seconds": empty_flow_seconds,
        "flow_seconds": flow_seconds,
        "flow_run_id": flow_run_ids[-1],
    }


def peak_rss_bytes() -> int:
    """This program's own high-water RSS.

    Not getrusage's ru_maxrss: the kernel folds into it the memory of the process image
    replaced by exec, i.e. of the benchmark harness that spawned this one.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    framework_arg, scenario_arg, count_arg = sys.argv[1:4]
    if framework_arg not in ("kflow", "prefect") or scenario_arg not in SCENARIOS:
        sys.exit(f"usage: workload.py kflow|prefect {'|'.join(SCENARIOS)} COUNT")
    outcome = main(framework_arg, scenario_arg, int(count_arg))
    outcome["peak_rss_bytes"] = peak_rss_bytes()
    sys.stdout.flush()
    print(json.dumps(outcome))
