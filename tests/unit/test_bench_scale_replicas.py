"""bench.scale_replicas' figures: two replicas sharing by work pool pass only when every run
was settled by its own pool's replica and nothing else touched it; a part not measured makes
the figures invalid, never a silent gap."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bench import scale_replicas
from bench._object_counts import ObjectCounts
from bench.scale_replicas import POOLS, Pair, Replica


def settled_pair(runs: int = 10) -> Pair:
    half = runs // 2
    return Pair(
        runs,
        deployments=4,
        single_throughput=200.0,
        create_seconds=1.0,
        settle_seconds=runs / 180,
        start_spread_seconds=0.2,
        outcomes={"FAILED": runs},
        rewritten=0,
        replicas=[
            Replica(pool, half, 90 << 20, 2.0, settled={pool: half}, flowrun_writes=half)
            for pool in POOLS
        ],
    )


def test_runs_alternate_between_the_pools_each_naming_its_pools_missing_deployment() -> None:
    specs = [scale_replicas.pool_run(index) for index in range(4)]
    assert [spec["workPool"]["name"] for spec in specs] == ["pool-a", "pool-b"] * 2
    assert specs[1]["deploymentRef"]["name"] == "no-such-deployment-pool-b"


def test_a_pair_whose_runs_were_each_settled_by_their_pools_replica_passes() -> None:
    pair = settled_pair()
    assert scale_replicas.invalid_figures([pair]) == []
    assert scale_replicas.passed([pair])
    assert round(pair.ratio, 2) == 0.9
    table = scale_replicas.render([pair])
    assert "runs settled, pool-a / pool-b replica" in table
    assert "5 / 5" in table
    assert not [line for line in table.splitlines() if line.endswith("FAIL")]


def test_a_run_settled_by_the_other_pools_replica_fails() -> None:
    pair = settled_pair()
    pair.replicas[0].settled = {"pool-a": 4, "pool-b": 1}
    pair.replicas[0].flowrun_writes = 5
    pair.replicas[1].settled = {"pool-b": 4}
    pair.replicas[1].flowrun_writes = 4
    assert scale_replicas.invalid_figures([pair]) == []
    assert not scale_replicas.passed([pair])
    assert pair.settled_own == 8
    assert pair.settled_others == 1
    assert pair.replicas[0].extra_writes == 1
    lines = scale_replicas.render([pair]).splitlines()
    failed = [line.split("  ")[0] for line in lines if line.endswith("FAIL")]
    assert failed == [
        "runs settled by their pool's replica",
        "runs settled by another pool's replica",
        "FlowRun writes beyond 1 per own run, pool-a / pool-b",
    ]


def test_a_run_written_by_both_replicas_fails() -> None:
    pair = settled_pair()
    pair.rewritten = 1
    assert not scale_replicas.passed([pair])


def test_a_replica_not_measured_makes_the_figures_invalid() -> None:
    pair = settled_pair()
    pair.replicas[1].flowrun_writes = -1
    pair.replicas[1].peak_rss_bytes = 0
    problems = scale_replicas.invalid_figures([pair])
    assert problems == [
        "pair N=10: pool-b's replica's RSS or CPU was not read",
        "pair N=10: pool-b's replica's metrics were not read",
    ]


def test_a_pair_without_the_one_operators_throughput_or_all_runs_failed_is_invalid() -> None:
    pair = settled_pair()
    pair.single_throughput = float("nan")
    pair.outcomes = {"FAILED": 9, "none": 1}
    problems = scale_replicas.invalid_figures([pair])
    assert len(problems) == 2
    assert "outcomes" in problems[0]
    assert "one-operator throughput" in problems[1]


def test_a_pair_that_could_not_be_measured_reports_why() -> None:
    pair = Pair(10, 4, replicas=[Replica(pool, 5) for pool in POOLS])
    pair.problems.append("pair N=10: not every run terminal within 121 s")
    assert scale_replicas.invalid_figures([pair]) == pair.problems
    assert "-" in scale_replicas.render([pair])


def test_object_counts_tell_objects_written_more_than_once() -> None:
    api: Any = SimpleNamespace(objects=SimpleNamespace(list_namespaced_custom_object=print))
    counts = ObjectCounts(api, "ns", "flowruns")
    for kind, name in (("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("MODIFIED", "b")):
        counts.on_event(kind, {"metadata": {"name": name}}, 0.0)
    assert counts.rewritten() == 0
    counts.on_event("MODIFIED", {"metadata": {"name": "b"}}, 0.0)
    assert counts.rewritten() == 1
    assert counts.modified == 3
