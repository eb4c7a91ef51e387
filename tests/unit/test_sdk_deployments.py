"""Prefect's deployment API mapped onto kflow resources, without a cluster: names, parameter
checks against a Deployment's schema, the FlowRun `run_deployment` creates (parentRef inside a
cluster run), the Deployment `to_deployment` stands for, and the refusals, each a sentence."""

from __future__ import annotations

import asyncio
import inspect
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import kflow
import pytest
from kflow import flow, task
from kflow.cli.flow_signature import parameter_schema
from kflow.cluster.deployment_run import (
    DeploymentRunError,
    RunRequest,
    deployment_id,
    deployment_name,
    flow_run_body,
    flow_run_view,
    parent_ref,
)
from kflow.cluster.entrypoint import load_entrypoint
from kflow.deployment_builder import (
    DeploymentBuildError,
    manifests,
    schedule_entries,
)
from kflow.deployments import run_deployment
from kflow.exceptions import NotSupportedArgumentError, ParameterTypeError
from kflow.flows import Flow
from kflow.parameter_schema_check import parameter_problems
from kflow.serving import serve_pool_name, served
from kflow.states import StateType


def add(x: int, y: int = 1, colour: str | None = None) -> int:
    return x + y


SCHEMA = parameter_schema(add)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("summer", "summer"), ("sums/summer", "summer"), ("my-flow/nightly-etl", "nightly-etl")],
)
def test_prefect_names_map_onto_the_deployment_name(given: str, expected: str) -> None:
    assert deployment_name(given) == expected


@pytest.mark.parametrize("given", ["a/b/c", "flow/", ""])
def test_a_name_of_another_form_says_which_forms_there_are(given: str) -> None:
    with pytest.raises(ValueError, match="'deployment-name' or 'flow-name/deployment-name'"):
        deployment_name(given)


def test_parameters_are_checked_against_the_schema() -> None:
    assert parameter_problems(SCHEMA, {}, {"x": 2, "colour": None}) == []
    assert parameter_problems(SCHEMA, {"x": 1}, {}) == []
    assert parameter_problems(SCHEMA, {}, {"x": True, "y": 1.5, "z": 0, "colour": 3}) == [
        "'z': the flow has no such parameter (its parameters: colour, x, y)",
        "'x': expected integer, got True",
        "'y': expected integer, got 1.5",
        "'colour': expected string or null, got 3",
    ]
    assert parameter_problems(SCHEMA, {}, {"y": 2}) == [
        "'x': required by the flow, and the Deployment has no default for it"
    ]
    assert parameter_problems(None, {}, {"anything": 1}) == []


def test_the_flow_run_names_the_deployment_and_what_was_asked() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    request = RunRequest(
        parameters={"x": 1},
        scheduled_time=when,
        flow_run_name="nightly",
        tags=["etl"],
        job_variables={"env": {"A": "1"}, "cpu_request": "250m"},
    )
    body = flow_run_body("summer", {"x": 1}, request, None)
    assert body["metadata"] == {"generateName": "summer-"}
    assert body["spec"] == {
        "deploymentRef": {"name": "summer"},
        "parameters": {"x": 1},
        "tags": ["etl"],
        "runName": "nightly",
        "scheduledTime": "2026-01-02T03:04:05.000000Z",
        "infrastructure": {"env": {"A": "1"}, "job": {"resources": {"requests": {"cpu": "250m"}}}},
    }


def test_an_idempotency_key_names_the_run() -> None:
    first = flow_run_body("summer", {}, RunRequest(idempotency_key="k1"), None)
    again = flow_run_body("summer", {}, RunRequest(idempotency_key="k1"), None)
    other = flow_run_body("summer", {}, RunRequest(idempotency_key="k2"), None)
    assert first["metadata"] == again["metadata"] != other["metadata"]
    assert first["metadata"]["name"].startswith("summer-")


def test_job_variables_kflow_has_no_field_for_are_refused_by_name() -> None:
    with pytest.raises(
        DeploymentRunError, match=r"job_variables\.stream_output: kflow has no such"
    ):
        flow_run_body("summer", {}, RunRequest(job_variables={"stream_output": True}), None)


def test_outside_a_cluster_run_there_is_no_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KFLOW_FLOW_RUN_NAME", raising=False)
    monkeypatch.delenv("KFLOW_FLOW_RUN_NAMESPACE", raising=False)

    @flow
    def local_parent() -> Any:
        return parent_ref(True, "default")

    assert local_parent() is None
    assert parent_ref(True, "default") is None


def test_inside_a_cluster_run_the_parent_is_that_flow_run_and_the_calling_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KFLOW_FLOW_RUN_NAMESPACE", "team-a")
    monkeypatch.setenv("KFLOW_FLOW_RUN_NAME", "chainer-x7k2p")

    @task
    def in_task() -> Any:
        from kflow.runtime import task_run

        return parent_ref(True, "team-a"), task_run.id

    @flow
    def parent() -> Any:
        return (
            parent_ref(True, "team-a"),
            parent_ref(False, "team-a"),
            parent_ref(True, "team-b"),
            in_task(),
        )

    in_flow, not_linked, elsewhere, (from_task, task_run_id) = parent()
    assert in_flow == {"name": "chainer-x7k2p"}
    assert not_linked is None
    assert elsewhere is None  # a parentRef names a FlowRun of the child's namespace
    assert from_task == {"name": "chainer-x7k2p", "taskRunId": task_run_id}
    assert parent_ref(True, "team-a") is None  # not inside a flow run


def test_the_returned_run_carries_its_state_and_small_result() -> None:
    obj = {
        "metadata": {"name": "summer-abc", "uid": "u-1"},
        "spec": {"deploymentRef": {"name": "summer"}, "parentRef": {"name": "p"}},
        "status": {
            "state": {"type": "COMPLETED", "name": "Completed"},
            "result": {"value": {"total": 6}},
        },
    }
    view = flow_run_view(obj, "ns")
    assert (view.name, view.id, view.deployment_name) == ("summer-abc", "u-1", "summer")
    assert view.parent_flow_run_name == "p"
    assert view.state.result() == {"total": 6}
    failed = flow_run_view(
        {**obj, "status": {"state": {"type": "FAILED", "name": "Failed", "message": "boom"}}},
        "ns",
    )
    assert failed.state.type is StateType.FAILED
    with pytest.raises(Exception, match="boom"):
        failed.state.result()
    waiting = flow_run_view({**obj, "status": {}}, "ns")
    assert waiting.state.type is StateType.SCHEDULED and not waiting.state.is_final()


def test_no_kubernetes_configuration_is_one_sentence_saying_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KFLOW_FLOW_RUN_NAMESPACE", raising=False)
    with pytest.raises(DeploymentRunError) as raised:
        run_deployment("summer", timeout=0)
    message = str(raised.value)
    assert message.startswith("run_deployment needs a Kubernetes cluster with kflow installed")
    assert "set KUBECONFIG" in message and "call the flow directly" in message


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (UUID("8c1f0b9e-2d44-4f1e-9c1b-7a0f6f3e8d21"), "8c1f0b9e-2d44-4f1e-9c1b-7a0f6f3e8d21"),
        ("8C1F0B9E-2D44-4F1E-9C1B-7A0F6F3E8D21", "8c1f0b9e-2d44-4f1e-9c1b-7a0f6f3e8d21"),
        ("8c1f0b9e2d444f1e9c1b7a0f6f3e8d21", None),
        ("summer", None),
        ("sums/summer", None),
    ],
)
def test_a_deployment_id_is_a_uuid_or_its_canonical_text(
    given: str | UUID, expected: str | None
) -> None:
    assert deployment_id(given) == expected


def test_the_async_variants_are_where_prefect_has_them() -> None:
    import kflow.deployments
    import kflow.flows

    for module, name in [
        (kflow, "arun_deployment"),
        (kflow, "aserve"),
        (kflow.deployments, "arun_deployment"),
        (kflow.deployments, "aserve"),
        (kflow.flows, "aserve"),
    ]:
        assert inspect.iscoroutinefunction(getattr(module, name)), (module, name)


def test_arun_deployment_says_what_run_deployment_says_without_a_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KFLOW_FLOW_RUN_NAMESPACE", raising=False)
    with pytest.raises(DeploymentRunError, match="needs a Kubernetes cluster with kflow"):
        asyncio.run(kflow.arun_deployment("summer", timeout=0))


def test_parameters_without_a_json_form_are_refused_before_anything_else() -> None:
    with pytest.raises(ParameterTypeError, match=r"parameter 'lock' .* has no JSON form"):
        run_deployment("summer", parameters={"lock": object()}, timeout=0)


def test_run_deployment_refuses_work_queues_by_name() -> None:
    with pytest.raises(NotSupportedArgumentError, match=r"'run_deployment\(work_queue_name=...\)'"):
        run_deployment("summer", work_queue_name="high")


# --- to_deployment / deploy / serve ---------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flow[Any, Any]:
    (tmp_path / "flows.py").write_text(
        textwrap.dedent(
            '''
            from kflow import flow

            @flow
            def add(x: int, y: int = 1) -> int:
                """Adds."""
                return x + y
            '''
        )
    )
    monkeypatch.chdir(tmp_path)
    target = load_entrypoint("flows.py:add", tmp_path)
    assert isinstance(target, Flow)
    return target


def test_to_deployment_maps_prefects_arguments_onto_the_kflow_yaml_entry(
    project: Flow[Any, Any],
) -> None:
    deployment = project.to_deployment(
        "adder",
        cron="0 9 * * *",
        interval=timedelta(minutes=5),
        parameters={"x": 2},
        tags=["t"],
        work_pool_name="k8s",
        job_variables={"env": {"A": "1"}},
        concurrency_limit=2,
    )
    assert isinstance(deployment, kflow.deployments.RunnerDeployment)
    assert deployment.entrypoint == "flows.py:add"
    assert deployment.description == "Adds."
    [manifest] = manifests([deployment], image="registry.example/flows:1")
    spec = manifest["spec"]
    assert manifest["metadata"] == {"name": "adder"}
    assert spec["schedules"] == [{"cron": "0 9 * * *"}, {"interval": 300}]
    assert spec["workPool"] == {"name": "k8s"}
    assert spec["infrastructure"] == {"env": {"A": "1"}, "image": "registry.example/flows:1"}
    assert spec["parameters"] == {"x": 2} and spec["tags"] == ["t"]
    assert spec["concurrencyLimit"] == 2 and spec["description"] == "Adds."
    assert spec["parameterSchema"]["required"] == ["x"]


def test_every_problem_is_listed_as_kflow_deploy_lists_it(project: Flow[Any, Any]) -> None:
    deployment = project.to_deployment(
        "adder", parameters={"x": "no", "z": 1}, work_pool_name="p", cron="bad"
    )
    with pytest.raises(DeploymentBuildError) as raised:
        manifests([deployment])
    lines = str(raised.value).splitlines()
    assert any(
        line.startswith("kflow.deploy(): deployment adder: parameters.z: ") for line in lines
    )
    assert any("parameters.x: Input should be a valid integer" in line for line in lines)
    assert any("schedules[0].cron" in line for line in lines)


def test_schedules_come_from_cron_interval_and_schedules() -> None:
    assert schedule_entries(["0 1 * * *", "0 2 * * *"], [60, 90.0], [{"interval": 5}]) == [
        {"cron": "0 1 * * *"},
        {"cron": "0 2 * * *"},
        {"interval": 60},
        {"interval": 90},
        {"interval": 5},
    ]
    with pytest.raises(DeploymentBuildError, match="expected seconds"):
        schedule_entries(None, "5m", None)


@pytest.mark.parametrize("option", ["build", "push"])
def test_image_building_is_refused_with_what_to_do(project: Flow[Any, Any], option: str) -> None:
    with pytest.raises(NotSupportedArgumentError) as raised:
        project.deploy("adder", work_pool_name="p", image="i:1", **{option: True})
    assert str(raised.value) == (
        f"Flow.deploy({option}=True): kflow does not build images; build and push it, "
        "then pass image=..."
    )
    with pytest.raises(NotSupportedArgumentError, match="kflow does not build images"):
        options: dict[str, Any] = {option: True}
        kflow.deploy(project.to_deployment("adder"), work_pool_name="p", **options)


@pytest.mark.parametrize("option", ["rrule", "triggers", "work_queue_name"])
def test_prefect_options_kflow_lacks_are_named(project: Flow[Any, Any], option: str) -> None:
    with pytest.raises(NotSupportedArgumentError, match=rf"Flow.to_deployment\({option}=...\)"):
        project.to_deployment("adder", **{option: "x"})


def test_deploy_needs_a_work_pool(project: Flow[Any, Any]) -> None:
    with pytest.raises(DeploymentBuildError, match="name the work pool its runs go to"):
        project.deploy("adder")


def test_job_variables_need_a_work_pool(project: Flow[Any, Any]) -> None:
    with pytest.raises(DeploymentBuildError, match="need a work pool"):
        manifests([project.to_deployment("adder", job_variables={"env": {"A": "1"}})])


def test_a_flow_defined_inside_a_function_cannot_be_deployed() -> None:
    @flow
    def inner() -> None:
        return None

    with pytest.raises(DeploymentBuildError, match=r"top level of a \.py file"):
        inner.to_deployment("x")


def test_served_deployments_join_a_process_pool_and_start_here(project: Flow[Any, Any]) -> None:
    deployment = project.to_deployment("adder", interval=60, parameters={"x": 1})
    assert serve_pool_name((deployment,)) == "serve-adder"
    [joined] = served((deployment,), "serve-adder", "team-a")
    assert joined.work_pool_name == "serve-adder" and joined.namespace == "team-a"
    assert joined.job_variables == {"working_dir": str(Path.cwd())}
    [manifest] = manifests([joined])
    assert manifest["spec"]["infrastructure"] == {"process": {"workingDirectory": str(Path.cwd())}}
    with pytest.raises(DeploymentBuildError, match="serve\\(\\) runs deployments from this"):
        served((project.to_deployment("a", work_pool_name="k8s"),), "p", "team-a")


def test_serve_with_no_cluster_says_so_in_one_line(
    project: Flow[Any, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(DeploymentBuildError) as raised:
        project.serve("adder", interval=60, parameters={"x": 1})
    message = str(raised.value)
    assert message.startswith("no usable Kubernetes configuration") and "\n" not in message
    assert "Set KUBECONFIG" in message


def test_a_referenced_result_is_read_back_on_the_first_result_call(tmp_path: Path) -> None:
    from kflow.result_references import ReferencedState, serializer_for
    from kflow.serializers import CompressedJSONSerializer, PickleSerializer

    assert type(serializer_for("/r/flow.pickle")).__name__ == "PickleSerializer"
    assert type(serializer_for("s3://b/k/flow.json.xz")).__name__ == "CompressedJSONSerializer"
    pickled = tmp_path / "run" / "flow.pickle"
    pickled.parent.mkdir()
    pickled.write_bytes(PickleSerializer().dumps({"rows": list(range(5))}))
    compressed = tmp_path / "run" / "flow.json.xz"
    compressed.write_bytes(CompressedJSONSerializer().dumps(["a"] * 3))
    obj = {
        "metadata": {"name": "big-1"},
        "spec": {"deploymentRef": {"name": "big"}},
        "status": {
            "state": {"type": "COMPLETED", "name": "Completed"},
            "result": {"reference": str(pickled), "summary": "{'rows': ...}"},
        },
    }
    view = flow_run_view(obj, "ns")
    assert isinstance(view.state, ReferencedState)
    assert "read on .result()" in repr(view.state)
    assert view.state.result() == {"rows": [0, 1, 2, 3, 4]}
    assert ReferencedState(str(compressed)).result() == ["a", "a", "a"]


def test_a_reference_that_cannot_be_read_here_says_where_the_result_is(tmp_path: Path) -> None:
    from kflow.exceptions import ResultStorageError
    from kflow.result_references import ReferencedState

    missing = tmp_path / "elsewhere" / "flow.pickle"
    with pytest.raises(ResultStorageError) as raised:
        ReferencedState(str(missing)).result()
    assert str(raised.value).startswith(
        f"The run's result is kept at {missing} and could not be read from here (FileNotFound"
    )
    with pytest.raises(ResultStorageError, match="kflow cannot read back"):
        ReferencedState("LocalFileSystem(...): run/flow").result()
