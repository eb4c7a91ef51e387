"""Scale: the operator's memory, throughput and restart with thousands of FlowRuns (issue 16).

Against a real API server (the local cluster, or KUBECONFIG), for each N (1,000 and 5,000;
20,000 and 50,000 too with --full), in a namespace of its own: M Deployments (200; paused, with
a schedule, so the operator holds them and creates nothing) and N FlowRuns of a Deployment that
does not exist (each settles to FAILED), all created BEFORE the operator starts. Then
`kflow-operator --namespace NS --standalone --launchers process --metrics-address …` is started
as a child process and works through the backlog:

- settle throughput: N / (operator live -> every run FAILED, as seen on a watch);
- the operator's peak RSS (the kernel's high-water mark, VmHWM) and CPU seconds while settling;
- restart once the operator is done with every run (each has its Finished condition, written
  after the terminal state): SIGTERM, start again, time from spawn until its index holds
  all N runs and it has gone quiet (under 10% of a CPU over 2 s: every run looked at), and the
  writes it made meanwhile (MODIFIED events on a watch of the namespace's FlowRuns and
  Deployments — Kopf's writes included — and the operator's own
  kflow_kubernetes_api_requests_total for create/update/patch/delete);
- /metrics scrape latency on the restarted operator.

Baseline, in the same run: the same operator on the same M Deployments and no FlowRun (its
idle RSS and start-up CPU), so RSS per 1,000 FlowRuns is what the runs add.

Then, at each N, two replicas sharing the work by work pool (bench.scale_replicas, a second
table): the same backlog split between two WorkPools, one operator per pool; their throughput
against the one operator's just measured, each one's memory and CPU, and which runs each
settled. Each measurement waits for the namespaces of the ones before to be gone first.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import scale_replicas, validity
from bench._cluster import (
    Api,
    ClusterUnavailable,
    bench_namespace,
    cluster_frame,
    format_value,
    percentile,
    progress,
    render_table,
    require_namespace,
    verdict,
    wait_namespaces_deleted,
)
from bench._object_counts import ObjectCounts, runs_per_second
from bench._scale_objects import create_deployments, create_runs, drop_all_finalizers
from bench._scale_operator import (
    api_writes,
    rss_bytes,
    runs_indexed,
    scrape,
    start_bench_operator,
    wait_quiet,
)
from tests.support.operator_process import free_port

MIB = 2**20
RSS_TARGET_BYTES = 150 * MIB
RSS_TARGET_RUNS = 5000
THROUGHPUT_TARGET = 200.0
RESTART_TARGET_SECONDS = 20.0
SCRAPE_P99_TARGET_SECONDS = 0.050


@dataclass(frozen=True)
class Plan:
    counts: tuple[int, ...]
    deployments: int
    scrapes: int

    @classmethod
    def default(cls, full: bool) -> Plan:
        counts = (1000, 5000, 20000, 50000) if full else (1000, 5000)
        return cls(counts=counts, deployments=200, scrapes=100)

    @classmethod
    def quick(cls) -> Plan:
        return cls(counts=(100, 300), deployments=20, scrapes=20)

    def budget_seconds(self, runs: int) -> float:
        """How long creating or settling `runs` may take before the benchmark gives up."""
        return 120.0 + runs / 10


@dataclass
class Point:
    runs: int
    deployments: int
    create_seconds: float = math.nan
    settle_seconds: float = math.nan
    """Operator live -> every run terminal on the watch."""
    outcomes: dict[str, int] = field(default_factory=dict)
    peak_rss_bytes: int = 0
    settled_rss_bytes: int = 0
    settle_cpu_seconds: float = math.nan
    """Operator CPU from spawn until quiet after settling (start-up included)."""
    restart_ready_seconds: float = math.nan
    restart_watched_writes: int = -1
    restart_api_writes: int = -1
    restart_rss_bytes: int = 0
    scrape_seconds: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return runs_per_second(self.runs, self.settle_seconds)


# --- one point of the curve --------------------------------------------------------------------


def measure_point(api: Api, runs: int, plan: Plan, workdir: Path) -> Point:
    point = Point(runs, plan.deployments)
    budget = plan.budget_seconds(runs)
    wait_namespaces_deleted(api, budget)
    with bench_namespace(api, "kflow-bench-scale") as namespace:
        try:
            progress(f"{namespace}: {plan.deployments} paused Deployments, {runs} FlowRuns")
            create_deployments(api, namespace, plan.deployments)
            point.create_seconds = create_runs(api, namespace, runs, budget)
            with ObjectCounts(api, namespace, "flowruns") as counts:
                if not counts.wait_seen(runs, budget):
                    point.problems.append(f"N={runs}: the watch never saw every FlowRun")
                    return point
                _settle(api, namespace, point, workdir / f"n{runs}", counts, budget)
                if runs and not point.problems:
                    _restart(api, namespace, point, plan, workdir / f"n{runs}", counts, budget)
            require_namespace(api, namespace)
        finally:
            drop_all_finalizers(api, namespace)
    return point


def _settle(
    api: Api, namespace: str, point: Point, workdir: Path, counts: ObjectCounts, budget: float
) -> None:
    operator = start_bench_operator(api, namespace, workdir, free_port())
    try:
        live = time.monotonic()
        settled = counts.wait_settled(point.runs, live, budget)
        point.outcomes = counts.outcomes()
        if isinstance(settled, str):
            point.problems.append(f"N={point.runs}: {settled}")
            return
        if point.runs:
            point.settle_seconds = settled
        if wait_quiet(operator, budget) is None:
            point.problems.append(f"N={point.runs}: the operator never went quiet after settling")
        point.settle_cpu_seconds = operator.cpu_seconds()
        point.settled_rss_bytes = rss_bytes(operator)
        point.peak_rss_bytes = operator.peak_rss_bytes()
    finally:
        operator.stop()


def _restart(
    api: Api,
    namespace: str,
    point: Point,
    plan: Plan,
    workdir: Path,
    counts: ObjectCounts,
    budget: float,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with ObjectCounts(api, namespace, "deployments") as deployments:
        if not deployments.wait_seen(plan.deployments, budget):
            point.problems.append(f"N={point.runs}: the watch never saw every Deployment")
            return
        writes_before = counts.modified + deployments.modified
        spawned = time.monotonic()
        operator = start_bench_operator(api, namespace, workdir, port)
        try:
            deadline = spawned + budget
            while runs_indexed(scrape(url)[1]) != point.runs:
                if time.monotonic() > deadline:
                    point.problems.append(f"N={point.runs}: the restarted index never held all")
                    return
                time.sleep(0.1)
            quiet = wait_quiet(operator, budget)
            if quiet is None:
                point.problems.append(f"N={point.runs}: the restarted operator never went quiet")
                return
            point.restart_ready_seconds = quiet - spawned
            point.restart_rss_bytes = rss_bytes(operator)
            for _ in range(5):
                scrape(url)
            point.scrape_seconds = [scrape(url)[0] for _ in range(plan.scrapes)]
            point.restart_api_writes = api_writes(scrape(url)[1])
            point.restart_watched_writes = counts.modified + deployments.modified - writes_before
        finally:
            operator.stop()


# --- the table ---------------------------------------------------------------------------------


def _mib(value: int) -> str:
    return format_value(float(value), "B") if value else "-"


def render(plan: Plan, baseline: Point, points: Sequence[Point]) -> str:
    header = ["measure", *(f"N={p.runs:,}" for p in points), "target", ""]

    def row(
        name: str, cells: Sequence[str], target: str = "", passed: bool | None = None
    ) -> list[str]:
        return [name, *cells, target, verdict(passed)]

    at_target = [p for p in points if p.runs == RSS_TARGET_RUNS]
    measured = [p for p in points if not p.problems]
    rows = [
        row(
            "create FlowRuns (operator not running)",
            [format_value(p.create_seconds, "s") for p in points],
        ),
        row(
            "operator peak RSS (VmHWM)",
            [_mib(p.peak_rss_bytes) for p in points],
            f"<= {RSS_TARGET_BYTES // MIB} MiB at N={RSS_TARGET_RUNS:,}",
            all(p.peak_rss_bytes <= RSS_TARGET_BYTES for p in at_target) if at_target else None,
        ),
        row("RSS once settled", [_mib(p.settled_rss_bytes) for p in points]),
        row(
            "peak RSS per 1,000 FlowRuns over baseline",
            [
                _mib(int((p.peak_rss_bytes - baseline.peak_rss_bytes) * 1000 / p.runs))
                if p.peak_rss_bytes
                else "-"
                for p in points
            ],
        ),
        row(
            "operator CPU, start-up + settling",
            [format_value(p.settle_cpu_seconds, "s") for p in points],
        ),
        row(
            "CPU per run over baseline",
            [
                format_value((p.settle_cpu_seconds - baseline.settle_cpu_seconds) / p.runs, "s")
                for p in points
            ],
        ),
        row(
            "settle throughput (live -> all FAILED)",
            [format_value(p.throughput, "/s") for p in points],
            f">= {THROUGHPUT_TARGET:.0f}/s",
            all(p.throughput >= THROUGHPUT_TARGET for p in measured) if measured else None,
        ),
        row(
            "restart, all terminal: spawn -> ready",
            [format_value(p.restart_ready_seconds, "s") for p in points],
            f"< {RESTART_TARGET_SECONDS:.0f} s",
            all(p.restart_ready_seconds < RESTART_TARGET_SECONDS for p in measured)
            if measured
            else None,
        ),
        row(
            "restart: writes seen on the namespace",
            [str(p.restart_watched_writes) for p in points],
            "0",
            all(p.restart_watched_writes == 0 for p in measured) if measured else None,
        ),
        row(
            "restart: operator's own API writes",
            [str(p.restart_api_writes) for p in points],
            "0",
            all(p.restart_api_writes == 0 for p in measured) if measured else None,
        ),
        row("RSS after restart (ready)", [_mib(p.restart_rss_bytes) for p in points]),
        row(
            f"/metrics p50 ({plan.scrapes} scrapes)",
            [format_value(percentile(p.scrape_seconds, 0.5), "s") for p in points],
        ),
        row(
            "/metrics p99",
            [format_value(percentile(p.scrape_seconds, 0.99), "s") for p in points],
            f"< {format_value(SCRAPE_P99_TARGET_SECONDS, 's')}",
            all(percentile(p.scrape_seconds, 0.99) < SCRAPE_P99_TARGET_SECONDS for p in measured)
            if measured
            else None,
        ),
    ]
    title = (
        f"Scale: N FlowRuns of a missing Deployment (each settles FAILED) + {plan.deployments} "
        "paused Deployments, one namespace, `kflow-operator --standalone --launchers process`; "
        f"baseline (same run, no FlowRun): peak RSS {_mib(baseline.peak_rss_bytes)}, "
        f"start-up CPU {format_value(baseline.settle_cpu_seconds, 's')}"
    )
    return f"{title}\n{render_table(header, rows)}"


def invalid_figures(baseline: Point, points: Sequence[Point]) -> list[str]:
    problems = [*baseline.problems]
    for point in points:
        problems += point.problems
        if point.problems:
            continue
        if point.outcomes != {"FAILED": point.runs}:
            problems.append(f"N={point.runs}: outcomes {point.outcomes}, not FAILED {point.runs}")
        if not point.settle_seconds > 0:
            problems.append(f"N={point.runs}: settle time {point.settle_seconds} is not positive")
        if point.peak_rss_bytes < point.settled_rss_bytes or not point.peak_rss_bytes:
            problems.append(f"N={point.runs}: peak RSS below the settled RSS")
        if point.restart_watched_writes < 0 or point.restart_api_writes < 0:
            problems.append(f"N={point.runs}: the restart's writes were not counted")
    if not baseline.peak_rss_bytes:
        problems.append("the baseline (no FlowRun) was not measured")
    return problems


def passed(points: Sequence[Point]) -> bool:
    for point in points:
        if point.runs == RSS_TARGET_RUNS and point.peak_rss_bytes > RSS_TARGET_BYTES:
            return False
        if (
            point.throughput < THROUGHPUT_TARGET
            or not point.restart_ready_seconds < RESTART_TARGET_SECONDS
            or point.restart_watched_writes != 0
            or point.restart_api_writes != 0
            or not percentile(point.scrape_seconds, 0.99) < SCRAPE_P99_TARGET_SECONDS
        ):
            return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__.splitlines()[0],
        epilog=validity.EXIT_CODES,
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="small counts: a check that it all works, not figures"
    )
    size.add_argument("--full", action="store_true", help="also N=20,000 and N=50,000 (long)")
    parser.add_argument(
        "--runs", type=int, action="append", help="measure these N instead (repeatable)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan.default(args.full)
    if args.runs:
        plan = Plan(tuple(args.runs), plan.deployments, plan.scrapes)
    try:
        with cluster_frame("scale") as (api, workdir):
            baseline = measure_point(api, 0, plan, workdir)
            points: list[Point] = []
            pairs: list[scale_replicas.Pair] = []
            for runs in plan.counts:
                points.append(measure_point(api, runs, plan, workdir))
                pairs.append(
                    scale_replicas.measure_pair(
                        api,
                        runs,
                        plan.deployments,
                        plan.budget_seconds(runs),
                        workdir,
                        points[-1].throughput,
                    )
                )
    except ClusterUnavailable as error:
        print(f"scale: {error}", file=sys.stderr)
        return 2
    print(render(plan, baseline, points))
    print()
    print(scale_replicas.render(pairs))
    problems = invalid_figures(baseline, points) + scale_replicas.invalid_figures(pairs)
    if problems:
        print(validity.report("scale", problems))
    if args.json:
        figures: dict[str, Any] = {"plan": asdict(plan), "baseline": asdict(baseline)}
        figures["points"] = [{**asdict(p), "throughput": p.throughput} for p in points]
        figures["pairs"] = [_pair_figures(pair) for pair in pairs]
        args.json.write_text(json.dumps({**figures, "invalid": problems}, indent=2))
    if problems:
        return validity.INVALID_EXIT_CODE
    return 0 if passed(points) and scale_replicas.passed(pairs) else 1


def _pair_figures(pair: scale_replicas.Pair) -> dict[str, Any]:
    return {
        **asdict(pair),
        "throughput": pair.throughput,
        "ratio": pair.ratio,
        "settled_own": pair.settled_own,
        "settled_others": pair.settled_others,
    }


if __name__ == "__main__":
    sys.exit(main())
