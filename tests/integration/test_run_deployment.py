"""Prefect's deployment API on a real API server: `run_deployment` creates a FlowRun of a
Deployment with the parameters given (checked against its parameterSchema first), waits for
its end and returns its state and result; called inside a cluster run it is that run's subflow
(`spec.parentRef`); `flow.deploy(..., work_pool_name=...)` applies a Deployment in the pool
whose runs complete; `flow.serve(...)` applies one into a process pool and serves its runs
from this machine until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from kflow.cli.flow_signature import load_flow_function, parameter_schema
from kflow.cluster.deployment_run import DeploymentFlowRun, DeploymentRunError
from kflow.cluster.entrypoint import load_entrypoint
from kflow.deployments import arun_deployment, run_deployment
from kflow.exceptions import ParameterTypeError
from kflow.flows import Flow

from tests.integration.conftest import FLOWS, GROUP, VERSION, Cluster, OperatorFactory, wait_until
from tests.support.custom_objects import items_of, json_object

pytestmark = pytest.mark.integration


def summer(cluster: Cluster, name: str = "summer", **spec: Any) -> None:
    """The Deployment of flows.py:sums, with the schema `kflow deploy` would write."""
    cluster.deployment(
        name,
        {
            "entrypoint": "flows.py:sums",
            "parameters": {"n": 3},
            "parameterSchema": parameter_schema(load_flow_function("flows.py:sums", FLOWS)),
            "infrastructure": {"type": "process"},
            **spec,
        },
    )


def flow_runs(cluster: Cluster) -> list[dict[str, Any]]:
    return items_of(
        cluster.objects.list_namespaced_custom_object(GROUP, VERSION, cluster.namespace, "flowruns")
    )


def test_run_deployment_creates_the_run_with_its_parameters_and_waits_for_its_end(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    summer(cluster)
    operators.start()
    run = run_deployment(
        "sums/summer",
        parameters={"label": "from-python"},
        timeout=90,
        namespace=cluster.namespace,
    )
    assert run.state.is_completed(), run.state
    assert run.state.result() == {"total": 6, "label": "from-python"}
    created = cluster.get_flowrun(run.name)
    assert created["spec"]["deploymentRef"] == {"name": "summer"}
    assert created["spec"]["parameters"] == {"label": "from-python"}
    assert "parentRef" not in created["spec"]
    assert run.parent_flow_run_name is None


def test_a_result_too_big_for_the_flow_run_is_read_from_where_it_is_kept(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    cluster.deployment("big", {"entrypoint": "flows.py:big", "infrastructure": {"type": "process"}})
    operators.start()
    run = run_deployment("big", timeout=90, namespace=cluster.namespace)
    assert run.state.is_completed(), run.state
    assert run.result_reference is not None and run.result_reference.endswith("/flow.pickle")
    assert run.state.result() == "x" * 20000


def test_a_deployment_is_found_by_its_id_as_a_uuid_or_its_text(cluster: Cluster) -> None:
    summer(cluster)
    created = json_object(
        cluster.objects.get_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, "deployments", "summer"
        )
    )
    uid = created["metadata"]["uid"]
    by_uuid = run_deployment(UUID(uid), timeout=0, namespace=cluster.namespace)
    by_text = run_deployment(uid.upper(), timeout=0, namespace=cluster.namespace)
    for run in (by_uuid, by_text):
        assert cluster.get_flowrun(run.name)["spec"]["deploymentRef"] == {"name": "summer"}
    missing = uuid4()
    with pytest.raises(DeploymentRunError) as raised:
        run_deployment(missing, timeout=0, namespace=cluster.namespace)
    assert f"no Deployment with id {missing} in namespace {cluster.namespace}" in str(raised.value)


def test_arun_deployment_waits_without_holding_the_event_loop(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    summer(cluster)
    operators.start()

    async def two_runs_and_a_ticker() -> tuple[list[DeploymentFlowRun], int]:
        ticks = 0
        runs = asyncio.gather(
            *(
                arun_deployment(
                    "summer", parameters={"n": n}, timeout=90, namespace=cluster.namespace
                )
                for n in (2, 3)
            )
        )
        while not runs.done():
            ticks += 1
            await asyncio.sleep(0.05)
        return list(await runs), ticks

    (two, three), ticks = asyncio.run(two_runs_and_a_ticker())
    assert two.state.result() == {"total": 2, "label": "default"}
    assert three.state.result() == {"total": 6, "label": "default"}
    assert ticks > 10, "the event loop ran while the runs were awaited"


def test_timeout_zero_returns_at_once_with_the_run_not_ended(cluster: Cluster) -> None:
    summer(cluster)
    run = run_deployment("summer", parameters={"n": 1}, timeout=0, namespace=cluster.namespace)
    assert not run.state.is_final()
    assert [r["metadata"]["name"] for r in flow_runs(cluster)] == [run.name]


def test_one_idempotency_key_makes_one_run(cluster: Cluster) -> None:
    summer(cluster)
    first = run_deployment(
        "summer", idempotency_key="2024-05-01", timeout=0, namespace=cluster.namespace
    )
    again = run_deployment(
        "summer", idempotency_key="2024-05-01", timeout=0, namespace=cluster.namespace
    )
    other = run_deployment(
        "summer", idempotency_key="2024-05-02", timeout=0, namespace=cluster.namespace
    )
    assert first.name == again.name != other.name
    assert first.id == again.id
    assert sorted(r["metadata"]["name"] for r in flow_runs(cluster)) == sorted(
        [first.name, other.name]
    )


def test_parameters_the_flow_would_refuse_start_nothing(cluster: Cluster) -> None:
    summer(cluster)
    with pytest.raises(ParameterTypeError) as raised:
        run_deployment(
            "summer", parameters={"n": "three", "x": 1}, timeout=0, namespace=cluster.namespace
        )
    message = str(raised.value)
    assert "'n': expected integer, got 'three'" in message
    assert "'x': the flow has no such parameter (its parameters: label, n)" in message
    assert flow_runs(cluster) == []


def test_a_missing_deployment_is_named_with_its_namespace(cluster: Cluster) -> None:
    with pytest.raises(DeploymentRunError) as raised:
        run_deployment("nope", timeout=0, namespace=cluster.namespace)
    assert f"Deployment 'nope' not found in namespace {cluster.namespace}" in str(raised.value)


def test_inside_a_cluster_run_the_new_run_is_its_subflow(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    summer(cluster)
    cluster.deployment(
        "chainer", {"entrypoint": "flows.py:chains", "infrastructure": {"type": "process"}}
    )
    operators.start()
    parent = run_deployment(
        "chainer", parameters={"n": 4}, timeout=150, namespace=cluster.namespace
    )
    assert parent.state.is_completed(), parent.state
    value = parent.state.result()
    assert value["state"] == "COMPLETED"
    assert value["result"] == {"total": 12, "label": "default"}
    child = cluster.get_flowrun(value["child"])
    assert child["spec"]["parentRef"] == {"name": parent.name}
    assert child["spec"]["deploymentRef"] == {"name": "summer"}


def sums_flow() -> Flow[Any, Any]:
    target = load_entrypoint("flows.py:sums", FLOWS)
    assert isinstance(target, Flow)
    return target


def create_process_pool(cluster: Cluster, name: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkPool",
        "metadata": {"name": name, "namespace": cluster.namespace},
        "spec": {"type": "process"},
    }
    cluster.objects.create_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "workpools", body
    )


def test_flow_deploy_applies_the_deployment_in_its_work_pool_and_a_run_completes(
    cluster: Cluster, operators: OperatorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FLOWS)
    create_process_pool(cluster, "local")
    applied = sums_flow().deploy(
        "summer",
        work_pool_name="local",
        parameters={"n": 2},
        cron="0 9 * * *",
        job_variables={"env": {"STAGE": "test"}},
        namespace=cluster.namespace,
    )
    assert applied == f"{cluster.namespace}/summer"
    deployment = json_object(
        cluster.objects.get_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, "deployments", "summer"
        )
    )
    spec = deployment["spec"]
    assert spec["workPool"] == {"name": "local"}
    assert spec["entrypoint"] == "flows.py:sums"
    assert spec["infrastructure"] == {"env": {"STAGE": "test"}}
    assert spec["schedules"] == [{"cron": "0 9 * * *", "active": True}]
    assert spec["parameterSchema"]["required"] == ["n"]
    operators.start()
    run = run_deployment("summer", timeout=90, namespace=cluster.namespace)
    assert run.state.is_completed(), run.state
    assert run.state.result() == {"total": 2, "label": "default"}


SERVE_SCRIPT = """
import sys
from kflow.cluster.entrypoint import load_entrypoint

sums = load_entrypoint("flows.py:sums")
sums.serve("served", interval=10, parameters={"n": 2}, namespace=sys.argv[1])
print("serve returned", flush=True)
"""

ASERVE_SCRIPT = """
import asyncio
import sys
from kflow import aserve
from kflow.cluster.entrypoint import load_entrypoint

sums = load_entrypoint("flows.py:sums")


async def main():
    served = sums.to_deployment("served", interval=10, parameters={"n": 2})
    await aserve(served, namespace=sys.argv[1])


try:
    asyncio.run(main())
except KeyboardInterrupt:
    print("serve returned", flush=True)
"""


@pytest.mark.parametrize("script", [SERVE_SCRIPT, ASERVE_SCRIPT], ids=["serve", "aserve"])
def test_flow_serve_applies_a_process_pool_deployment_and_runs_its_scheduled_runs(
    cluster: Cluster, kubeconfig: Path, tmp_path: Path, script: str
) -> None:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), KFLOW_HOME=str(tmp_path))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serving = subprocess.Popen(
            [sys.executable, "-c", script, cluster.namespace],
            cwd=FLOWS,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        completed = wait_until(
            "a scheduled run of the served Deployment COMPLETED",
            lambda: [
                r
                for r in flow_runs(cluster)
                if ((r.get("status") or {}).get("state") or {}).get("type") == "COMPLETED"
            ],
            timeout=150,
            interval=0.5,
        )
        assert completed[0]["spec"]["deploymentRef"] == {"name": "served"}
        assert completed[0]["status"]["result"]["value"] == {"total": 2, "label": "default"}
        deployment = json_object(
            cluster.objects.get_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, "deployments", "served"
            )
        )
        assert deployment["spec"]["workPool"] == {"name": "serve-served"}
        assert deployment["spec"]["schedules"] == [{"interval": 10, "active": True}]
        pool = json_object(
            cluster.objects.get_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, "workpools", "serve-served"
            )
        )
        assert pool["spec"]["type"] == "process"
    finally:
        os.killpg(serving.pid, signal.SIGINT)
        try:
            serving.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(serving.pid, signal.SIGKILL)
            serving.wait(10)
    output = log.read_text()
    assert serving.returncode == 0, output
    assert "kflow serve: serving served from work pool serve-served" in output, output
    assert "serve returned" in output, output
    wait_until(
        "the stopped worker's entry gone from the pool",
        lambda: (
            not (
                json_object(
                    cluster.objects.get_namespaced_custom_object(
                        GROUP, VERSION, cluster.namespace, "workpools", "serve-served"
                    )
                ).get("status")
                or {}
            ).get("workers")
        ),
        timeout=10,
    )
