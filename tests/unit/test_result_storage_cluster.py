"""`infrastructure.resultStorage`: a WorkPool, Deployment or FlowRun names where its runs keep
results and cache entries; the highest layer's storage is taken whole; the run's process is
pointed at it (KFLOW_RESULT_STORAGE, the S3 endpoint, the credentials by Secret reference),
a Job's pod gets the claim mounted, a container the host path; `kflow flow-run inspect` shows
it with its layer; the SDK uses it as the default result storage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from kflow import flow, task
from kflow.backend import MemoryBackend
from kflow.cluster.run_infrastructure_view import effective_section, effective_view
from kflow.resources import (
    DeploymentSpec,
    InfrastructureConflict,
    InfrastructureSpec,
    Layer,
    ResultStorage,
    SecretKey,
    WorkPoolSpec,
    merge_infrastructure,
)
from kflow_operator.decisions.launch_plan import plan_launch
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.infrastructure import LaunchRequest
from kflow_operator.launchers.docker.container_spec import container_spec
from kflow_operator.launchers.kubernetes_job.manifest import job_manifest
from pydantic import ValidationError

BUCKET = {
    "s3": {
        "bucket": "team-results",
        "prefix": "etl",
        "endpointURL": "http://minio.storage:9000",
        "region": "eu-west-1",
        "credentialsSecretRef": {"name": "s3-creds"},
    }
}
CLAIM = {"volume": {"mountPath": "/results", "claimName": "results", "subPath": "etl"}}


def layer(source: str, **fields: Any) -> Layer:
    spec = InfrastructureSpec.model_validate(fields)
    return Layer(source, spec, spec.type)


def pool(type_: str, **infrastructure: Any) -> Layer:
    model = WorkPoolSpec.model_validate({"type": type_, "infrastructure": infrastructure})
    return Layer("WorkPool shared", model.infrastructure, model.type)


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ({}, "resultStorage needs exactly one of `volume` or `s3`"),
        ({**BUCKET, "volume": {"mountPath": "/r"}}, "exactly one of `volume` or `s3`"),
        ({"volume": {"mountPath": "/r", "subPath": "x"}}, "`subPath` applies with `claimName`"),
        ({"volume": {"mountPath": "relative"}}, "mountPath"),
        ({"s3": {"bucket": "Bad_Bucket"}}, "bucket"),
        ({"s3": {"bucket": "b1c", "endpointURL": "minio:9000"}}, "endpointURL"),
    ],
)
def test_a_bad_storage_is_refused_naming_the_field(storage: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ResultStorage.model_validate(storage)
    assert message in str(raised.value)


def test_a_pool_of_another_type_refuses_a_claim() -> None:
    with pytest.raises(ValidationError) as raised:
        WorkPoolSpec.model_validate({"type": "process", "infrastructure": {"resultStorage": CLAIM}})
    assert "`resultStorage.volume.claimName` applies to type kubernetes-job only" in str(
        raised.value
    )


def test_the_highest_layer_storage_is_taken_whole_never_merged() -> None:
    merged = merge_infrastructure(
        [layer("Deployment etl", resultStorage={"volume": {"mountPath": "/srv/results"}})],
        pool=pool("process", resultStorage=BUCKET),
    )
    storage = merged.infrastructure.result_storage
    assert storage is not None and storage.s3 is None
    assert storage.model_dump(by_alias=True, exclude_none=True) == {
        "volume": {"mountPath": "/srv/results"}
    }
    assert merged.sources["resultStorage"] == "Deployment etl"


def test_a_storage_that_does_not_fit_the_pools_type_names_its_layer() -> None:
    with pytest.raises(InfrastructureConflict) as raised:
        merge_infrastructure(
            [layer("Deployment etl", resultStorage={"volume": {"mountPath": "/r"}})],
            pool=pool("kubernetes-job", image="flows:1"),
        )
    assert str(raised.value) == (
        "Deployment etl sets infrastructure.resultStorage, but a kubernetes-job run's "
        "`resultStorage.volume` needs `claimName` (the PersistentVolumeClaim mounted at "
        "mountPath) and the run's type is kubernetes-job (from WorkPool shared); change "
        "infrastructure.resultStorage in Deployment etl"
    )


def run() -> SupervisedRun:
    return SupervisedRun.from_body(
        {
            "metadata": {"namespace": "ns", "name": "r", "uid": "u-1", "resourceVersion": "1"},
            "spec": {"deploymentRef": {"name": "etl"}},
            "status": {},
        }
    )


def deployment(**infrastructure: Any) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {"entrypoint": "flows.py:main", "infrastructure": infrastructure}
    )


def test_the_run_is_pointed_at_a_bucket_and_its_credentials_only_by_reference() -> None:
    plan = plan_launch(run(), deployment(type="process", env={"STAGE": "x"}, resultStorage=BUCKET))
    assert isinstance(plan, LaunchRequest), plan
    assert {k: v for k, v in plan.env.items() if not k.startswith("KFLOW_FLOW_RUN")} == {
        "STAGE": "x",
        "KFLOW_RESULT_STORAGE": "s3://team-results/etl",
        "AWS_ENDPOINT_URL": "http://minio.storage:9000",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    assert plan.secret_env == {
        "AWS_ACCESS_KEY_ID": SecretKey("s3-creds", "AWS_ACCESS_KEY_ID", False),
        "AWS_SECRET_ACCESS_KEY": SecretKey("s3-creds", "AWS_SECRET_ACCESS_KEY", False),
        "AWS_SESSION_TOKEN": SecretKey("s3-creds", "AWS_SESSION_TOKEN", True),
    }


def test_a_job_mounts_the_claim_and_reads_the_secret_itself() -> None:
    plan = plan_launch(
        run(), deployment(type="kubernetes-job", image="flows:1", resultStorage=CLAIM)
    )
    assert isinstance(plan, LaunchRequest), plan
    pod = job_manifest(plan, None)["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "kflow-results", "persistentVolumeClaim": {"claimName": "results"}}
    ]
    (container,) = pod["containers"]
    assert container["volumeMounts"] == [
        {"name": "kflow-results", "mountPath": "/results", "subPath": "etl"}
    ]
    assert {"name": "KFLOW_RESULT_STORAGE", "value": "/results"} in container["env"]

    bucket = plan_launch(
        run(), deployment(type="kubernetes-job", image="f:1", resultStorage=BUCKET)
    )
    assert isinstance(bucket, LaunchRequest)
    env = job_manifest(bucket, None)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "AWS_SECRET_ACCESS_KEY",
        "valueFrom": {
            "secretKeyRef": {"name": "s3-creds", "key": "AWS_SECRET_ACCESS_KEY", "optional": False}
        },
    } in env
    assert all("value" not in e for e in env if e["name"].startswith("AWS_S") or "KEY" in e["name"])


def test_a_container_gets_the_host_path_bind_mounted_and_the_secret_values() -> None:
    storage = {"volume": {"mountPath": "/results", "hostPath": "/srv/kflow/results"}}
    plan = plan_launch(run(), deployment(type="docker", image="flows:1", resultStorage=storage))
    assert isinstance(plan, LaunchRequest), plan
    spec = container_spec(
        plan,
        "cluster",
        extra_env={},
        default_network=None,
        kubeconfig=False,
        secrets={"AWS_ACCESS_KEY_ID": "id"},
    )
    assert spec["volumes"] == ["/srv/kflow/results:/results:rw"]
    assert spec["environment"]["KFLOW_RESULT_STORAGE"] == "/results"
    assert spec["environment"]["AWS_ACCESS_KEY_ID"] == "id"


def test_inspect_shows_the_storage_and_the_layer_it_came_from() -> None:
    flow_run = {
        "metadata": {"name": "etl-1", "namespace": "team"},
        "spec": {"deploymentRef": {"name": "etl"}},
    }
    deployment_object = {
        "metadata": {"name": "etl", "namespace": "team"},
        "spec": {
            "entrypoint": "flows.py:etl",
            "workPool": {"name": "shared"},
            "infrastructure": {"resultStorage": BUCKET},
        },
    }
    pool_object = {
        "metadata": {"name": "shared", "namespace": "team"},
        "spec": {
            "type": "process",
            "infrastructure": {"resultStorage": {"volume": {"mountPath": "/srv"}}},
        },
    }
    view = effective_view(flow_run, deployment_object, pool_object)
    assert view.sources["resultStorage"] == "Deployment etl"
    rows = [re.split(r"\s{3,}", line.strip()) for line in effective_section(view).splitlines()]
    assert [
        "resultStorage",
        "Deployment etl",
        "s3://team-results/etl at http://minio.storage:9000 (credentials: Secret s3-creds)",
    ] in rows


def test_the_sdk_keeps_results_where_kflow_result_storage_points(
    backend: MemoryBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    own = tmp_path / "own"
    monkeypatch.setenv("KFLOW_RESULT_STORAGE", str(shared))

    @task(persist_result=True)
    def double(x: int) -> int:
        return 2 * x

    @flow(persist_result=True)
    def default_storage() -> int:
        return double(2)

    @flow(persist_result=True, result_storage=str(own))
    def own_storage() -> int:
        return double(3)

    assert default_storage() == 4
    assert own_storage() == 6
    default_run, own_run = (run.id for run in backend.flow_runs.values())
    in_shared = {str(p.relative_to(shared)) for p in shared.rglob("*.pickle")}
    assert f"{default_run}/flow.pickle" in in_shared
    assert any(n.startswith(default_run) and ".double-" in n for n in in_shared), in_shared
    assert f"{own_run}/flow.pickle" not in in_shared, "a flow's own result_storage still wins"
    assert (own / own_run / "flow.pickle").is_file()
