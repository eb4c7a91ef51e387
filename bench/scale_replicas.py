"""Scale, two replicas sharing by work pool (issue 16: "and the same for two sharing replicas").

Measured by bench.scale right after its one operator at the same N, in a namespace of its own:
two `process` WorkPools (pool-a, pool-b), the same M paused Deployments (half in each pool, so
each replica holds its half) and N FlowRuns, run i in pool-a when i is even, else in pool-b.
Each run names its pool (spec.workPool.name) and a Deployment of its pool's that does not exist
(no-such-deployment-pool-a / -pool-b), so it settles FAILED in one status write by its pool's
operator. Everything is created BEFORE the operators start; then two
`kflow-operator --standalone --launchers process --work-pool POOL` are started at once, each
with its own metrics port, and work through the backlog:

- settle throughput of the pair: N / (first replica live -> every run terminal, on a watch),
  and its ratio to the one operator's at the same N in the same run;
- each replica's peak RSS (VmHWM) and CPU seconds (spawn until quiet after settling);
- runs each replica settled, by the pool of the Deployment the run names (the replica's
  kflow_flow_runs_finished_total, labelled by Deployment): every run by its own pool's replica
  (target N), none by the other's (target 0);
- FlowRun write requests a replica made beyond one per run of its own it settled (its
  kflow_kubernetes_api_requests_total to flowruns and flowruns/status; target 0: it touched no
  run of the other pool), and runs the watch saw written more than once (target 0: no run
  written by both replicas).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._cluster import (
    Api,
    Operator,
    bench_namespace,
    format_value,
    progress,
    render_table,
    require_namespace,
    verdict,
    wait_namespaces_deleted,
)
from bench._object_counts import ObjectCounts, runs_per_second
from bench._scale_objects import (
    MISSING_DEPLOYMENT,
    create_deployments,
    create_pools,
    create_runs,
    drop_all_finalizers,
)
from bench._scale_operator import (
    api_writes,
    runs_finished,
    scrape,
    start_bench_operator,
    wait_quiet,
)
from tests.support.operator_process import free_port

POOLS = ("pool-a", "pool-b")
OTHER = "(no pool)"
"""How a run settled whose Deployment is none of the pools' is counted."""
FLOWRUN_RESOURCES = ("flowruns", "flowruns/status")


def pool_of_run(index: int) -> str:
    return POOLS[index % len(POOLS)]


def missing_deployment(pool: str) -> str:
    """The Deployment, missing, that the runs of `pool` name."""
    return f"{MISSING_DEPLOYMENT}-{pool}"


def pool_run(index: int) -> dict[str, Any]:
    """The spec of run `index`: in its pool, of its pool's missing Deployment."""
    pool = pool_of_run(index)
    return {"deploymentRef": {"name": missing_deployment(pool)}, "workPool": {"name": pool}}


@dataclass
class Replica:
    pool: str
    runs: int
    """Runs of its pool."""
    peak_rss_bytes: int = 0
    settle_cpu_seconds: float = math.nan
    """CPU from spawn until quiet after settling (start-up included)."""
    settled: dict[str, int] = field(default_factory=dict)
    """Runs it finished with, by the pool of the Deployment the run names."""
    flowrun_writes: int = -1
    """Its write requests to FlowRuns (any answer); -1 until its metrics were read."""

    @property
    def own(self) -> int:
        return self.settled.get(self.pool, 0)

    @property
    def others(self) -> int:
        """Runs of another pool (or of none) it settled."""
        return sum(count for pool, count in self.settled.items() if pool != self.pool)

    @property
    def extra_writes(self) -> int:
        """Write requests to FlowRuns beyond one per run of its own pool it settled."""
        return self.flowrun_writes - self.own if self.flowrun_writes >= 0 else -1


@dataclass
class Pair:
    runs: int
    deployments: int
    single_throughput: float = math.nan
    """The one operator's at the same N, same run (bench.scale)."""
    create_seconds: float = math.nan
    settle_seconds: float = math.nan
    """The first replica live -> every run terminal on the watch."""
    start_spread_seconds: float = math.nan
    """How long after the first replica the second was live."""
    outcomes: dict[str, int] = field(default_factory=dict)
    rewritten: int = -1
    """Runs the watch saw written more than once."""
    replicas: list[Replica] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return runs_per_second(self.runs, self.settle_seconds)

    @property
    def ratio(self) -> float:
        """Pair throughput / one operator's."""
        if math.isnan(self.throughput) or not self.single_throughput > 0:
            return math.nan
        return self.throughput / self.single_throughput

    @property
    def settled_own(self) -> int:
        return sum(replica.own for replica in self.replicas)

    @property
    def settled_others(self) -> int:
        return sum(replica.others for replica in self.replicas)

    @property
    def passed(self) -> bool:
        return (
            self.settled_own == self.runs
            and self.settled_others == 0
            and all(replica.extra_writes == 0 for replica in self.replicas)
            and self.rewritten == 0
        )


# --- the measurement ---------------------------------------------------------------------------


def measure_pair(
    api: Api, runs: int, deployments: int, budget: float, workdir: Path, single_throughput: float
) -> Pair:
    """The pair at N=`runs`; every wait within `budget` seconds."""
    pair = Pair(runs, deployments, single_throughput)
    pair.replicas = [
        Replica(pool, sum(1 for i in range(runs) if pool_of_run(i) == pool)) for pool in POOLS
    ]
    wait_namespaces_deleted(api, budget)
    with bench_namespace(api, "kflow-bench-pair") as namespace:
        try:
            progress(
                f"{namespace}: pools {', '.join(POOLS)}, {deployments} paused Deployments, "
                f"{runs} FlowRuns"
            )
            create_pools(api, namespace, POOLS)
            create_deployments(api, namespace, deployments, POOLS)
            pair.create_seconds = create_runs(api, namespace, runs, budget, pool_run)
            with ObjectCounts(api, namespace, "flowruns") as counts:
                if not counts.wait_seen(runs, budget):
                    pair.problems.append(f"pair N={runs}: the watch never saw every FlowRun")
                    return pair
                _settle(api, namespace, pair, workdir / f"pair-n{runs}", counts, budget)
            require_namespace(api, namespace)
        finally:
            drop_all_finalizers(api, namespace)
    return pair


@contextlib.contextmanager
def started_replicas(
    api: Api, namespace: str, workdir: Path
) -> Iterator[list[tuple[Operator, str, float]]]:
    """One operator per pool, started at once: (operator, metrics URL, when it was live), in
    POOLS order; all stopped afterwards (also those started when another failed to)."""
    ports: list[int] = []
    while len(ports) < len(POOLS):
        port = free_port()
        if port not in ports:
            ports.append(port)

    def start(pool: str, port: int) -> tuple[Operator, str, float]:
        operator = start_bench_operator(api, namespace, workdir / pool, port, "--work-pool", pool)
        return operator, f"http://127.0.0.1:{port}/metrics", time.monotonic()

    with ThreadPoolExecutor(len(POOLS)) as threads:
        futures = [
            threads.submit(start, pool, port) for pool, port in zip(POOLS, ports, strict=True)
        ]
    started = [future.result() for future in futures if future.exception() is None]
    try:
        for future in futures:
            future.result()  # the first failure to start, if any
        yield started
    finally:
        with ThreadPoolExecutor(len(POOLS)) as threads:
            list(threads.map(lambda replica: replica[0].stop(), started))


def _settle(
    api: Api, namespace: str, pair: Pair, workdir: Path, counts: ObjectCounts, budget: float
) -> None:
    with started_replicas(api, namespace, workdir) as operators:
        lives = [live for _, _, live in operators]
        live = min(lives)
        pair.start_spread_seconds = max(lives) - live
        settled = counts.wait_settled(pair.runs, live, budget)
        pair.outcomes = counts.outcomes()
        if isinstance(settled, str):
            pair.problems.append(f"pair N={pair.runs}: {settled}")
            return
        if pair.runs:
            pair.settle_seconds = settled
        pools = {missing_deployment(pool): pool for pool in POOLS}
        for replica, (operator, url, _) in zip(pair.replicas, operators, strict=True):
            if not operator.alive():
                pair.problems.append(
                    f"pair N={pair.runs}: {replica.pool}'s replica exited "
                    f"({operator.popen.returncode}): {operator.log_tail(500)}"
                )
                continue
            if wait_quiet(operator, budget) is None:
                pair.problems.append(
                    f"pair N={pair.runs}: {replica.pool}'s replica never went quiet"
                )
            replica.settle_cpu_seconds = operator.cpu_seconds()
            replica.peak_rss_bytes = operator.peak_rss_bytes()
            metrics = scrape(url)[1]
            for deployment, count in runs_finished(metrics).items():
                pool = pools.get(deployment, OTHER)
                replica.settled[pool] = replica.settled.get(pool, 0) + count
            replica.flowrun_writes = api_writes(metrics, FLOWRUN_RESOURCES)
        pair.rewritten = counts.rewritten()


# --- the table ---------------------------------------------------------------------------------


def _each(pair: Pair, cell: Callable[[Replica], str]) -> str:
    """One cell per replica, in POOLS order, joined by ' / '; '-' when not measured."""
    if not pair.replicas:
        return "-"
    return " / ".join(cell(replica) for replica in pair.replicas)


def _mib(value: int) -> str:
    return format_value(float(value), "B") if value else "-"


def _count(value: int) -> str:
    return f"{value:,}" if value >= 0 else "-"


def render(pairs: Sequence[Pair]) -> str:
    header = ["measure", *(f"N={p.runs:,}" for p in pairs), "target", ""]
    measured = [p for p in pairs if not p.problems]

    def row(
        name: str, cells: Sequence[str], target: str = "", passed: bool | None = None
    ) -> list[str]:
        return [name, *cells, target, verdict(passed)]

    def judged(check: Callable[[Pair], bool]) -> bool | None:
        return all(check(p) for p in measured) if measured else None

    pools = " / ".join(POOLS)
    rows = [
        row(
            "create FlowRuns (operators not running)",
            [format_value(p.create_seconds, "s") for p in pairs],
        ),
        row(
            "second replica live after the first",
            [format_value(p.start_spread_seconds, "s") for p in pairs],
        ),
        row(
            "settle throughput (first live -> all FAILED)",
            [format_value(p.throughput, "/s") for p in pairs],
        ),
        row(
            "pair / one operator throughput (same N)",
            ["-" if math.isnan(p.ratio) else f"{p.ratio:.2f}" for p in pairs],
        ),
        row(
            f"peak RSS (VmHWM), {pools}",
            [_each(p, lambda r: _mib(r.peak_rss_bytes)) for p in pairs],
        ),
        row(
            f"CPU, start-up + settling, {pools}",
            [_each(p, lambda r: format_value(r.settle_cpu_seconds, "s")) for p in pairs],
        ),
        row(
            f"runs settled, {pools} replica",
            [_each(p, lambda r: _count(r.own)) for p in pairs],
        ),
        row(
            "runs settled by their pool's replica",
            [_count(p.settled_own) for p in pairs],
            "N",
            judged(lambda p: p.settled_own == p.runs),
        ),
        row(
            "runs settled by another pool's replica",
            [_count(p.settled_others) for p in pairs],
            "0",
            judged(lambda p: p.settled_others == 0),
        ),
        row(
            f"FlowRun writes beyond 1 per own run, {pools}",
            [_each(p, lambda r: _count(r.extra_writes)) for p in pairs],
            "0",
            judged(lambda p: all(r.extra_writes == 0 for r in p.replicas)),
        ),
        row(
            "runs written more than once (watch)",
            [_count(p.rewritten) for p in pairs],
            "0",
            judged(lambda p: p.rewritten == 0),
        ),
    ]
    title = (
        f"Two replicas sharing by work pool: the same N, split between WorkPools {pools} "
        "(each run names its pool and a missing Deployment; settles FAILED), the same "
        "Deployments split between them, `kflow-operator --standalone --launchers process "
        "--work-pool POOL` per pool"
    )
    return f"{title}\n{render_table(header, rows)}"


def invalid_figures(pairs: Sequence[Pair]) -> list[str]:
    problems: list[str] = []
    for pair in pairs:
        problems += pair.problems
        if pair.problems:
            continue
        name = f"pair N={pair.runs}"
        if pair.outcomes != {"FAILED": pair.runs}:
            problems.append(f"{name}: outcomes {pair.outcomes}, not FAILED {pair.runs}")
        if not pair.settle_seconds > 0:
            problems.append(f"{name}: settle time {pair.settle_seconds} is not positive")
        if not pair.single_throughput > 0:
            problems.append(f"{name}: no one-operator throughput at the same N to compare with")
        if pair.rewritten < 0:
            problems.append(f"{name}: the writes per run were not counted")
        if [replica.pool for replica in pair.replicas] != list(POOLS):
            problems.append(f"{name}: replicas {[r.pool for r in pair.replicas]}, not {POOLS}")
        for replica in pair.replicas:
            if not replica.peak_rss_bytes or math.isnan(replica.settle_cpu_seconds):
                problems.append(f"{name}: {replica.pool}'s replica's RSS or CPU was not read")
            if replica.flowrun_writes < 0:
                problems.append(f"{name}: {replica.pool}'s replica's metrics were not read")
    return problems


def passed(pairs: Sequence[Pair]) -> bool:
    return all(pair.passed for pair in pairs)
