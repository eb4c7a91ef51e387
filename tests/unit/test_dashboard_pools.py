"""Work pools in the dashboard, for clusters that have the WorkPool kind."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kflow.dashboard.pages.common import Scope
from kflow.dashboard.pages.home import home_page
from kflow.dashboard.pages.pools import pools_page
from kflow.dashboard.queries import RunFilter, deployment_pools
from kflow.dashboard.store import WORKPOOLS, Store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCOPE = Scope("ns", "ctx", "https://api", "token", pools=True)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pool(
    name: str, workers: list[dict[str, Any]], live: int | None = None, **spec: Any
) -> dict[str, Any]:
    status: dict[str, Any] = {"workers": workers}
    if live is not None:
        status["liveWorkers"] = live
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"type": "kubernetes-job", **spec},
        "status": status,
    }


def run(name: str, kind: str, pool_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": stamp(NOW)},
        "spec": {"workPool": {"name": pool_name}, **spec},
        "status": {"state": {"type": kind, "name": kind.title(), "timestamp": stamp(NOW)}},
    }


def test_pools_show_workers_with_heartbeats_and_their_active_and_late_runs() -> None:
    beat = stamp(NOW - timedelta(seconds=20))
    pools = [
        pool(
            "gpu",
            [{"identity": "<b>op-1</b>", "lastHeartbeatTime": beat}],
            live=1,
            concurrencyLimit=4,
        ),
        pool("idle", [], paused=True),
    ]
    late = run("l", "SCHEDULED", "gpu", scheduledTime=stamp(NOW - timedelta(minutes=5)))
    runs = [run("a", "RUNNING", "gpu"), run("b", "COMPLETED", "gpu"), late]
    live = pools_page(pools, runs, SCOPE, NOW).live
    gpu = live[live.index('data-pool="gpu"') : live.index('data-pool="idle"')]
    assert "&lt;b&gt;op-1&lt;/b&gt;" in gpu and "20s ago" in gpu and "1 live" in gpu
    assert "<td>4</td>" in gpu and "<td>1</td><td>1</td>" in gpu  # one active, one late
    assert 'href="/runs?pool=gpu"' in gpu
    idle = live[live.index('data-pool="idle"') :]
    assert "no workers" in idle and "<td>paused</td>" in idle


def test_home_lists_pools_without_workers_only_where_pools_exist() -> None:
    beat = stamp(NOW - timedelta(minutes=5))
    pools = [
        pool("busy", [{"identity": "op", "lastHeartbeatTime": stamp(NOW)}], live=1),
        pool("idle", []),
        pool("stale", [{"identity": "gone", "lastHeartbeatTime": beat}], live=0),
        # Every operator died: nobody rewrote liveWorkers, the heartbeat's age tells the truth.
        pool("orphaned", [{"identity": "died", "lastHeartbeatTime": beat}], live=1),
    ]
    with_pools = home_page([], [], SCOPE, NOW, pools)
    assert 'data-pool="idle"' in with_pools.live and 'data-pool="busy"' not in with_pools.live
    assert 'data-pool="stale"' in with_pools.live
    assert 'data-pool="orphaned"' in with_pools.live
    assert "workpools" in with_pools.topics
    assert "Work pools without workers" not in home_page([], [], SCOPE, NOW).live


def test_runs_filter_by_pool_and_the_store_holds_pools_only_when_asked() -> None:
    assert RunFilter.from_query({"pool": "gpu"}).matches(run("a", "RUNNING", "gpu"))
    assert not RunFilter.from_query({"pool": "gpu"}).matches(run("a", "RUNNING", "cpu"))
    assert not Store().has(WORKPOOLS) and Store().objects(WORKPOOLS) == []
    assert Store(("flowruns", "deployments", WORKPOOLS)).synced[WORKPOOLS] is False


def test_a_run_of_a_deployment_in_a_pool_counts_and_filters_in_that_pool() -> None:
    inherited = {
        "metadata": {"name": "i", "namespace": "ns", "creationTimestamp": stamp(NOW)},
        "spec": {"deploymentRef": {"name": "etl"}},
        "status": {"state": {"type": "RUNNING", "name": "Running", "timestamp": stamp(NOW)}},
    }
    pools_by_deployment = deployment_pools(
        [{"metadata": {"name": "etl", "namespace": "ns"}, "spec": {"workPool": {"name": "gpu"}}}]
    )
    live = pools_page([pool("gpu", [], live=0)], [inherited], SCOPE, NOW, pools_by_deployment).live
    assert "<td>1</td>" in live[live.index('data-pool="gpu"') :]  # one active run
    wanted = RunFilter.from_query({"pool": "gpu"}, NOW)
    assert not wanted.matches(inherited)
    assert replace(wanted, deployment_pools=pools_by_deployment).matches(inherited)


def test_a_pool_whose_operators_all_died_shows_no_live_worker() -> None:
    beat = stamp(NOW - timedelta(minutes=5))
    died = pool("gpu", [{"identity": "op-1", "lastHeartbeatTime": beat}], live=1)
    live = pools_page([died], [], SCOPE, NOW).live
    assert "0 live" in live and "1 live" not in live and "5m ago" in live
