"""The launch gate with work pools, on the operator's real in-memory indexes: the Deployment
decides first, then the pool, from memory (no API server: a miss would fail the test)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kflow.resources import DeploymentSpec
from kflow_operator.decisions.actions import HoldForSlot
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.informers import deployment_ref, own_pool
from kflow_operator.object_index import ObjectIndex
from kflow_operator.scheduling.admission import admit_launch
from kflow_operator.scheduling.pool_gate import pool_of, pool_view
from kflow_operator.scheduling.store import ScheduleApi

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DUE = "2026-12-04T12:00:00Z"


class NoServer:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the gate called the API server ({name})")


def indexes(*bodies: dict[str, Any]) -> ScheduleApi:
    api = ScheduleApi(
        NoServer(),  # type: ignore[arg-type]
        ObjectIndex(group_of=deployment_ref, pool_of=own_pool),
        ObjectIndex(pool_of=own_pool),
        ObjectIndex(),
    )
    for index in (api.runs, api.deployments, api.workpools):
        assert index is not None
        index.mark_ready()
    for body in bodies:
        kind = body["kind"]
        target = {"FlowRun": api.runs, "Deployment": api.deployments, "WorkPool": api.workpools}
        index = target[kind]
        assert index is not None
        index.put(body)
    return api


def meta(name: str) -> dict[str, Any]:
    return {
        "namespace": "team",
        "name": name,
        "uid": f"uid-{name}",
        "resourceVersion": "5",
        "creationTimestamp": "2026-12-04T11:00:00Z",
        "generation": 1,
    }


def pool(name: str = "shared", **spec: Any) -> dict[str, Any]:
    return {"kind": "WorkPool", "metadata": meta(name), "spec": {"type": "process", **spec}}


def deployment(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": meta(name),
        "spec": {"entrypoint": "f.py:main", "workPool": {"name": "shared"}, **spec},
    }


def run(name: str, of: str | None, state: str = "SCHEDULED", **spec: Any) -> dict[str, Any]:
    body_spec: dict[str, Any] = {"scheduledTime": DUE, **spec}
    if of is not None:
        body_spec["deploymentRef"] = {"name": of}
    else:
        body_spec.setdefault("entrypoint", "f.py:main")
    return {
        "kind": "FlowRun",
        "metadata": meta(name),
        "spec": body_spec,
        "status": {"state": {"type": state, "name": state.title(), "timestamp": DUE}},
    }


def ask(api: ScheduleApi, name: str) -> Any:
    assert api.runs is not None and api.deployments is not None
    body = api.runs.get("team", name)
    assert body is not None
    ref = deployment_ref(body)
    found = api.deployments.get("team", ref) if ref else None
    spec = DeploymentSpec.model_validate(found["spec"]) if found else None
    return admit_launch(api, SupervisedRun.from_body(body), spec, NOW)


def test_the_last_slot_of_a_pool_goes_to_one_of_two_deployments_runs_due_together() -> None:
    api = indexes(
        pool(concurrencyLimit=2),
        deployment("d1"),
        deployment("d2"),
        run("busy", "d1", "RUNNING"),
        run("a", "d2"),
        run("b", "d1"),
    )
    assert ask(api, "a") is None
    held = ask(api, "b")
    assert isinstance(held, HoldForSlot)
    assert held.state_name == "AwaitingConcurrencySlot"
    assert "work pool 'shared' has concurrencyLimit=2" in held.message


def test_ad_hoc_runs_naming_the_pool_count_too() -> None:
    api = indexes(
        pool(concurrencyLimit=1),
        deployment("d1"),
        run("by-hand", None, "RUNNING", workPool={"name": "shared"}),
        run("a", "d1"),
    )
    assert isinstance(ask(api, "a"), HoldForSlot)


def test_a_run_its_deployment_holds_leaves_the_pool_slot_to_others() -> None:
    api = indexes(
        pool(concurrencyLimit=2),
        deployment("d1", concurrencyLimit=1),
        deployment("d2"),
        run("d1-busy", "d1", "RUNNING"),
        run("a-held-by-d1", "d1"),
        run("b", "d2"),
    )
    assert isinstance(ask(api, "a-held-by-d1"), HoldForSlot)
    assert ask(api, "b") is None


def test_both_limits_must_allow() -> None:
    api = indexes(
        pool(concurrencyLimit=5),
        deployment("d1", concurrencyLimit=1),
        run("busy", "d1", "RUNNING"),
        run("a", "d1"),
    )
    held = ask(api, "a")
    assert isinstance(held, HoldForSlot)
    assert "work pool" not in held.message


def test_a_missing_pool_and_a_paused_pool_hold_the_run() -> None:
    missing = indexes(deployment("d1", infrastructure={"type": "process"}), run("a", "d1"))
    held = ask(missing, "a")
    assert isinstance(held, HoldForSlot) and held.state_name == "AwaitingWorkPool"
    assert "kflow work-pool create shared --type process" in held.message
    paused = indexes(pool(paused=True), deployment("d1"), run("a", "d1"))
    held = ask(paused, "a")
    assert isinstance(held, HoldForSlot) and held.state_name == "PoolPaused"


def test_a_runs_own_pool_overrides_its_deployments() -> None:
    api = indexes(
        pool(concurrencyLimit=0),
        pool("other"),
        deployment("d1"),
        run("a", "d1", workPool={"name": "other"}),
    )
    body = api.runs.get("team", "a") if api.runs else None
    assert body is not None and pool_of(api, body) == "other"
    assert ask(api, "a") is None
    view = pool_view(api, "team", "other")
    assert view is not None and view.name == "other"
    assert pool_view(api, "team", "nowhere") is None
