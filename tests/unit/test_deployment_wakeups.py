"""Who wakes a Deployment's scheduling pass when one of its runs ends: the operator's own watch
of FlowRuns (the index the pass reads), not only Kopf's event queue, which lags the index by
tens of seconds in a burst; a pass that found nothing to prune was otherwise not run again
until Kopf caught up (test_bad_input_corners.py, history of a burst)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from kflow_operator.informers import Informers
from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.kubeapi.list_watch import Change
from kflow_operator.kubeapi.notification_reads import NotificationReads
from kflow_operator.operator_context import OperatorContext
from kflow_operator.settings import OperatorSettings
from kflow_operator.wakeups import DeploymentWaker


def run(name: str, version: int, state: str | None, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"namespace": "team", "name": name, "resourceVersion": str(version)},
        "spec": {"deploymentRef": {"name": "d"}},
        "status": dict(status),
    }
    if state is not None:
        body["status"]["state"] = {"type": state, "name": state.title()}
    return body


def test_the_watch_tells_each_change_of_a_runs_state_type_once() -> None:
    told: list[tuple[str, str | None]] = []

    def on_change(body: Mapping[str, Any]) -> None:
        state = ((body.get("status") or {}).get("state") or {}).get("type")
        told.append((body["metadata"]["name"], state))

    informers = Informers((), KflowObjects(), on_run_state_change=on_change)

    def watch(kind: str, body: dict[str, Any]) -> None:
        informers._apply(informers.flowruns, Change(kind, body))

    watch("ADDED", run("r", 1, None))
    assert told == [], "a run without a state has not changed state"
    watch("MODIFIED", run("r", 2, "CANCELLED"))
    watch("MODIFIED", run("r", 3, "CANCELLED", conditions=[{"type": "Finished"}]))
    watch("MODIFIED", run("r", 2, "CANCELLED"))
    assert told == [("r", "CANCELLED")], "status writes and stale versions tell nothing"
    informers.flowruns.put(run("s", 5, "COMPLETED"))  # Kopf's event came first (and woke)
    watch("MODIFIED", run("s", 5, "COMPLETED"))
    assert told == [("r", "CANCELLED")]
    watch("DELETED", run("r", 4, "CANCELLED"))
    assert told == [("r", "CANCELLED"), ("r", "CANCELLED")], "its deletion is told too"


def no_api_client() -> Any:
    raise AssertionError("this test reaches no API server")


def test_a_runs_state_change_wakes_its_deployments_pass_from_any_thread() -> None:
    loop = asyncio.new_event_loop()
    try:
        context = OperatorContext(
            OperatorSettings(), KflowObjects(), {}, NotificationReads(no_api_client)
        )
        wakers = {name: DeploymentWaker(loop, 1) for name in ("d", "other")}
        for name, waker in wakers.items():
            context.deployment_wakers[("team", name)] = waker
        context.wake_deployment_of(run("r", 1, "CANCELLED"))
        context.wake_deployment_of({"metadata": {"namespace": "team", "name": "x"}, "spec": {}})
        loop.run_until_complete(asyncio.sleep(0))
        assert {name for name, w in wakers.items() if w.wake.is_set()} == {"d"}
    finally:
        loop.close()
    wakers["d"].wake_threadsafe()  # after the loop closed (operator stopping): no error
