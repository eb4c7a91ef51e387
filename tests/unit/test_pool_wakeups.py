"""Who is woken when a pool may release its held runs: a pool's spec change (not its
heartbeats), or a run of it ending."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kflow_operator.informers import Informers, deployment_ref, own_pool
from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.kubeapi.list_watch import Change
from kflow_operator.kubeapi.notification_reads import NotificationReads
from kflow_operator.object_index import ObjectIndex
from kflow_operator.operator_context import OperatorContext
from kflow_operator.settings import OperatorSettings
from kflow_operator.wakeups import DeploymentWaker


def meta(name: str, version: str = "1", generation: int = 1) -> dict[str, Any]:
    return {"namespace": "team", "name": name, "resourceVersion": version, "generation": generation}


def test_only_a_pools_spec_changes_wake_its_waiters() -> None:
    woken: list[tuple[str, str]] = []
    informers = Informers((), KflowObjects(), on_pool_change=lambda *key: woken.append(key))
    pool = {"metadata": meta("p"), "spec": {"type": "process"}}

    def apply(kind: str, body: dict[str, Any]) -> None:
        informers._apply(informers.workpools, Change(kind, body))

    apply("ADDED", pool)
    assert woken == [("team", "p")]
    heartbeat = {**pool, "metadata": meta("p", "2"), "status": {"liveWorkers": 1}}
    apply("MODIFIED", heartbeat)
    assert woken == [("team", "p")], "a status write wakes nobody"
    resumed = {**pool, "metadata": meta("p", "3", generation=2)}
    apply("MODIFIED", resumed)
    apply("DELETED", resumed)
    assert woken == [("team", "p")] * 3


def run(name: str, deployment: str | None, state: str, **spec: Any) -> dict[str, Any]:
    body_spec: dict[str, Any] = dict(spec)
    if deployment is not None:
        body_spec["deploymentRef"] = {"name": deployment}
    return {
        "metadata": meta(name),
        "spec": body_spec,
        "status": {"state": {"type": "SCHEDULED", "name": state}},
    }


def no_api_client() -> Any:
    raise AssertionError("this test reaches no API server")


def test_waking_a_pool_wakes_the_deployments_and_supervisors_of_its_held_runs() -> None:
    loop = asyncio.new_event_loop()
    try:
        context = OperatorContext(
            OperatorSettings(), KflowObjects(), {}, NotificationReads(no_api_client)
        )
        schedules = context.schedules
        schedules.runs = ObjectIndex(group_of=deployment_ref, pool_of=own_pool)
        schedules.deployments = ObjectIndex(pool_of=own_pool)
        for index in (schedules.runs, schedules.deployments):
            index.mark_ready()
        schedules.deployments.put({"metadata": meta("d1"), "spec": {"workPool": {"name": "p"}}})
        schedules.deployments.put({"metadata": meta("quiet"), "spec": {}})
        schedules.runs.put(run("held", "d1", "AwaitingConcurrencySlot"))
        schedules.runs.put(run("other-held", "quiet", "PoolPaused", workPool={"name": "p"}))
        schedules.runs.put(run("ad-hoc", None, "AwaitingConcurrencySlot", workPool={"name": "p"}))
        schedules.runs.put(run("not-held", None, "Scheduled", workPool={"name": "p"}))
        wakers = {name: DeploymentWaker(loop, 1) for name in ("d1", "quiet", "unrelated")}
        for name, waker in wakers.items():
            context.deployment_wakers[("team", name)] = waker
        supervisors: list[str] = []

        def supervisor(name: str) -> Callable[[], None]:
            return lambda: supervisors.append(name)

        for name in ("ad-hoc", "not-held"):
            context.run_wakers[("team", name)] = supervisor(name)

        context.wake_pool_waiters("team", "p")
        loop.run_until_complete(asyncio.sleep(0))

        assert {name for name, w in wakers.items() if w.wake.is_set()} == {"d1", "quiet"}
        assert supervisors == ["ad-hoc"]
    finally:
        loop.close()
