"""Metrics scrape: how long the operator's /metrics takes with thousands of FlowRuns (issue 14).

Against a real API server (the local cluster, or KUBECONFIG): N FlowRuns (5,000 by default,
ended and finished with, in four final states over 20 Deployments) are created in a namespace
of their own, then `kflow-operator --metrics-address` is started on them as a child process.
Once its index holds every run (the scrape itself says so) and it has gone quiet (its start-up
pass over every run done: under 10% of a CPU over 2 s), /metrics is fetched over HTTP, one
request after another, and each is timed from the request to the last byte. The host's load
average is printed with the table: the machine is shared, and a loaded one shows in the tail.

Baseline, in the same run: one LIST of the same FlowRuns from the API server, which is what
an exporter that asks the API server on every scrape pays (Argo's /metrics took 7 s at 12k
workflows). Goal: p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench import validity
from bench._cluster import (
    GROUP,
    VERSION,
    Api,
    ClusterUnavailable,
    Operator,
    bench_namespace,
    cluster_frame,
    create,
    format_value,
    percentile,
    progress,
    ratio,
    render_table,
    require_namespace,
    start_operator,
    verdict,
)
from tests.support.operator_process import free_port
from tests.support.waiting import wait_until

P99_TARGET_SECONDS = 0.050
FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")
DEPLOYMENTS = 20
CREATE_THREADS = 8
INDEX_TIMEOUT_SECONDS = 600.0
QUIET_WINDOW_SECONDS = 2.0
QUIET_CPU_FRACTION = 0.10
QUIET_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class Plan:
    runs: int
    scrapes: int
    lists: int

    @classmethod
    def full(cls, runs: int) -> Plan:
        return cls(runs=runs, scrapes=200, lists=10)

    @classmethod
    def quick(cls) -> Plan:
        return cls(runs=200, scrapes=50, lists=3)


@dataclass
class Figures:
    runs_indexed: int
    scrape_seconds: list[float]
    scrape_bytes: int
    list_seconds: list[float]
    create_seconds: float
    quiet_after_seconds: float | None
    """From a full index to a quiet operator; None when it never went quiet."""
    load_average: float


def _timestamp(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ended_status(index: int, now: datetime) -> dict[str, object]:
    """A run that ran a minute and ended in one of FINAL_STATES, finished with by an operator
    (the Finished condition): the operator indexes it but has nothing to do for it."""
    state = FINAL_STATES[index % len(FINAL_STATES)]
    started, ended = _timestamp(now - timedelta(minutes=1)), _timestamp(now)
    entries = [
        {"type": "RUNNING", "name": "Running", "timestamp": started},
        {"type": state, "name": state.title(), "timestamp": ended},
    ]
    return {
        "state": entries[-1],
        "stateHistory": entries,
        "startTime": started,
        "endTime": ended,
        "conditions": [
            {
                "type": "Finished",
                "status": "True",
                "reason": state.title(),
                "message": "Made by the metrics scrape benchmark.",
                "lastTransitionTime": ended,
            }
        ],
    }


def create_runs(api: Api, namespace: str, count: int) -> float:
    """Create `count` ended FlowRuns; the seconds it took."""
    now = datetime.now(UTC)

    def one(index: int) -> None:
        name = f"run-{index:05d}"
        create(api, namespace, "FlowRun", name, {"deploymentRef": {"name": f"d-{index % 20}"}})
        api.objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "flowruns", name, {"status": ended_status(index, now)}
        )

    started = time.monotonic()
    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        for done, _ in enumerate(pool.map(one, range(count)), start=1):
            if done % 1000 == 0:
                progress(f"{done}/{count} FlowRuns created")
    return time.monotonic() - started


def scrape(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return time.perf_counter() - started, body


def runs_reported(body: bytes) -> int:
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(body.decode())
            if family.name == "kflow_flow_runs"
            for sample in family.samples
        )
    )


def list_seconds(api: Api, namespace: str) -> float:
    started = time.perf_counter()
    response: Any = api.objects.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "flowruns", _preload_content=False
    )
    json.loads(response.data)  # the whole body, parsed, as an exporter would
    return time.perf_counter() - started


def wait_quiet(operator: Operator) -> float | None:
    """Seconds until the operator uses under QUIET_CPU_FRACTION of a CPU over a window; None
    if it never does within QUIET_TIMEOUT_SECONDS."""
    started = time.monotonic()
    while time.monotonic() - started < QUIET_TIMEOUT_SECONDS:
        before = operator.cpu_seconds()
        time.sleep(QUIET_WINDOW_SECONDS)
        if operator.cpu_seconds() - before < QUIET_CPU_FRACTION * QUIET_WINDOW_SECONDS:
            return time.monotonic() - started
    return None


def measure(api: Api, plan: Plan, workdir: Path) -> Figures:
    with bench_namespace(api, "kflow-bench-metrics") as namespace:
        progress(f"creating {plan.runs} ended FlowRuns in {namespace}")
        created = create_runs(api, namespace, plan.runs)
        port = free_port()
        url = f"http://127.0.0.1:{port}/metrics"
        operator = start_operator(
            api, namespace, workdir / "operator", workdir, "--metrics-address", f"127.0.0.1:{port}"
        )
        try:
            progress("waiting for the operator's index to hold every run")
            wait_until(
                "the operator's index to hold every run",
                lambda: runs_reported(scrape(url)[1]) == plan.runs,
                timeout=INDEX_TIMEOUT_SECONDS,
                interval=0.5,
            )
            quiet = wait_quiet(operator)
            for _ in range(5):
                scrape(url)
            samples = [scrape(url) for _ in range(plan.scrapes)]
            indexed = runs_reported(samples[-1][1])
            lists = [list_seconds(api, namespace) for _ in range(plan.lists)]
            require_namespace(api, namespace)
        finally:
            operator.stop()
    return Figures(
        runs_indexed=indexed,
        scrape_seconds=[seconds for seconds, _ in samples],
        scrape_bytes=len(samples[-1][1]),
        list_seconds=lists,
        create_seconds=created,
        quiet_after_seconds=quiet,
        load_average=os.getloadavg()[0],
    )


def invalid_figures(plan: Plan, figures: Figures) -> list[str]:
    problems = []
    if figures.runs_indexed != plan.runs:
        problems.append(
            f"the scrape reported {figures.runs_indexed} FlowRuns, not the {plan.runs} created"
        )
    if figures.quiet_after_seconds is None:
        problems.append(
            f"the operator never went quiet within {QUIET_TIMEOUT_SECONDS:.0f} s: the scrapes "
            "measured a busy process"
        )
    if len(figures.scrape_seconds) != plan.scrapes:
        problems.append(f"{len(figures.scrape_seconds)} of {plan.scrapes} scrapes measured")
    return problems


def render(plan: Plan, figures: Figures) -> str:
    p50 = percentile(figures.scrape_seconds, 0.50)
    p99 = percentile(figures.scrape_seconds, 0.99)
    baseline = statistics.median(figures.list_seconds)
    rows = [
        [
            f"/metrics p50 ({plan.scrapes} scrapes)",
            format_value(p50, "s"),
            format_value(baseline, "s"),
            ratio(p50, baseline),
            "",
            "",
        ],
        [
            "/metrics p99",
            format_value(p99, "s"),
            "",
            "",
            f"< {format_value(P99_TARGET_SECONDS, 's')}",
            verdict(p99 < P99_TARGET_SECONDS),
        ],
        ["/metrics max", format_value(max(figures.scrape_seconds), "s"), "", "", "", ""],
        ["/metrics size", f"{figures.scrape_bytes / 1024:.1f} KiB", "", "", "", ""],
    ]
    title = (
        f"Metrics scrape, {figures.runs_indexed} FlowRuns in the operator's index "
        f"(created in {figures.create_seconds:.0f} s); baseline: one LIST of them from the "
        f"API server (median of {plan.lists}); host load average {figures.load_average:.1f}"
    )
    header = ["measure", "kflow", "LIST", "ratio", "target", ""]
    return f"{title}\n{render_table(header, rows)}"


def passed(figures: Figures) -> bool:
    return percentile(figures.scrape_seconds, 0.99) < P99_TARGET_SECONDS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.metrics_scrape",
        description=__doc__.splitlines()[0],
        epilog=validity.EXIT_CODES,
    )
    parser.add_argument(
        "--quick", action="store_true", help="small counts: a check that it all works, not figures"
    )
    parser.add_argument("--runs", type=int, default=5000, help="FlowRuns to create (default 5000)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan.full(args.runs)
    try:
        with cluster_frame("metrics_scrape") as (api, workdir):
            figures = measure(api, plan, workdir)
    except ClusterUnavailable as error:
        print(f"metrics_scrape: {error}", file=sys.stderr)
        return 2
    print(render(plan, figures))
    problems = invalid_figures(plan, figures)
    if problems:
        print(validity.report("metrics_scrape", problems))
    if args.json:
        args.json.write_text(
            json.dumps({"plan": plan.__dict__, "invalid": problems, **figures.__dict__}, indent=2)
        )
    if problems:
        return validity.INVALID_EXIT_CODE
    return 0 if passed(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
