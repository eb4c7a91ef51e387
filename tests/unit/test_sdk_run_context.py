"""`get_run_context()` and `kflow.runtime.deployment`: what a Prefect port reads about the run
it is in."""

from __future__ import annotations

from typing import Any

import pytest
from kflow import flow, get_run_context, runtime, task
from kflow.backend import DeploymentInfo
from kflow.cluster.run_spec import deployment_info
from kflow.context import FlowRunContext, TaskRunContext
from kflow.engine.flow_calls import run_flow
from kflow.exceptions import MissingContextError

pytestmark = pytest.mark.usefixtures("backend")


def test_in_a_flow_it_is_the_flow_run_context() -> None:
    @flow(name="outer")
    def outer(x: int) -> dict[str, Any]:
        ctx = get_run_context()
        assert isinstance(ctx, FlowRunContext)
        return {
            "flow": ctx.flow.name,
            "run": ctx.flow_run.name,
            "id": ctx.flow_run.id,
            "parameters": ctx.parameters,
            "same": ctx.flow_run.id == runtime.flow_run.id,
        }

    seen = outer(3)
    assert seen["flow"] == "outer"
    assert seen["parameters"] == {"x": 3}
    assert seen["same"] is True
    assert seen["run"] and seen["id"]


def test_in_a_task_it_is_the_task_run_context_with_its_flow_run() -> None:
    @task(name="inner")
    def inner(y: int) -> dict[str, Any]:
        ctx = get_run_context()
        assert isinstance(ctx, TaskRunContext)
        return {
            "task": ctx.task.name,
            "task_run": ctx.task_run.name,
            "flow_run_id": ctx.task_run.flow_run_id,
            "flow_run": ctx.flow_run.id,
            "flow": ctx.flow.name,
            "parameters": ctx.parameters,
        }

    @flow(name="holder")
    def holder() -> dict[str, Any]:
        return {"flow_run_id": get_run_context().flow_run.id, "task": inner.submit(5).result()}

    seen = holder()
    assert seen["task"]["task"] == "inner"
    assert seen["task"]["task_run"].startswith("inner-")
    assert seen["task"]["flow_run_id"] == seen["task"]["flow_run"] == seen["flow_run_id"]
    assert seen["task"]["flow"] == "holder"
    assert seen["task"]["parameters"] == {"y": 5}


def test_outside_a_run_it_raises_a_clear_runtime_error() -> None:
    with pytest.raises(MissingContextError, match="outside a flow run or task run") as raised:
        get_run_context()
    assert isinstance(raised.value, RuntimeError)


def test_runtime_deployment_is_empty_for_a_local_run() -> None:
    @flow
    def local() -> tuple[Any, Any, Any]:
        return runtime.deployment.id, runtime.deployment.name, runtime.deployment.parameters

    assert local() == (None, None, {})
    assert (runtime.deployment.id, runtime.deployment.parameters) == (None, {})


def test_runtime_deployment_in_a_run_of_a_deployment_and_its_subflows() -> None:
    @flow
    def child() -> tuple[Any, Any]:
        return runtime.deployment.name, get_run_context().flow_run.deployment_id

    @task
    def in_task() -> Any:
        return runtime.deployment.id

    @flow
    def parent() -> dict[str, Any]:
        return {
            "id": runtime.deployment.id,
            "name": runtime.deployment.name,
            "parameters": runtime.deployment.parameters,
            "flow_run.deployment_id": get_run_context().flow_run.deployment_id,
            "task": in_task(),
            "child": child(),
        }

    info = DeploymentInfo("3f1c-uid", "nightly", {"region": "eu"})
    state = run_flow(parent, {}, deployment=info, existing=False)
    assert state.result() == {
        "id": "3f1c-uid",
        "name": "nightly",
        "parameters": {"region": "eu"},
        "flow_run.deployment_id": "3f1c-uid",
        "task": "3f1c-uid",
        "child": ("nightly", None),
    }
    with pytest.raises(AttributeError, match="available: id, name, parameters"):
        _ = runtime.deployment.version


def test_deployment_info_reads_the_deployment_object() -> None:
    deployment = {
        "metadata": {"name": "nightly", "uid": "3f1c-uid"},
        "spec": {"entrypoint": "flows.py:f", "parameters": {"region": "eu"}},
    }
    info = deployment_info(deployment)
    assert info is not None
    assert (info.id, info.name, info.parameters) == ("3f1c-uid", "nightly", {"region": "eu"})
    assert deployment_info(None) is None
    bare = deployment_info({"metadata": {"name": "d"}, "spec": {}})
    assert bare is not None and (bare.id, bare.parameters) == (None, {})
