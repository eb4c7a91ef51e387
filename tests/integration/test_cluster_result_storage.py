"""Result storage named by the cluster, on a real API server with the operator's process
launcher: a WorkPool's `resultStorage` on a shared path gives two FlowRuns of one Deployment
one cache (the second run's task is `Cached`, its body not run again) and puts a big result
there (`status.result.reference`); `kflow flow-run inspect` shows the storage and its layer. A
Deployment whose storage is an S3-compatible bucket (moto's server on 127.0.0.1), its
credentials from a labelled Secret, keeps the result in the bucket, readable with the SDK, and
the credentials appear in no kflow resource; an unlabelled Secret fails the run saying how to
mark it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from kflow.deployments import run_deployment
from kubernetes import client

from tests.cluster.kubectl import Kubectl
from tests.integration.conftest import (
    CRDS,
    GROUP,
    VERSION,
    Cluster,
    OperatorFactory,
    wait_until,
)
from tests.support.custom_objects import json_object
from tests.support.s3_server import local_s3_server

pytestmark = pytest.mark.integration

KFLOW = Path(sys.executable).parent / "kflow"
KEY_ID = "kflow-storage-test"
SECRET_KEY = "kflow-storage-secret-value"


class CrdWatch:
    """Whether the cluster's Deployment or WorkPool CRD lost resultStorage while the test ran.

    On a cluster several checkouts share, each test session applies its own checkout's CRDs;
    one without resultStorage makes the API server drop the field from every object it serves
    from then on (the operator's reads included), which no test of this checkout can pass. A
    failure then says so instead of looking like a defect here."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._api = client.ApiextensionsV1Api(api_client)
        self._stop = threading.Event()
        self.lost: list[str] = []
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        """Read both CRDs every POLL_SECONDS (two GETs; a watch of CRDs is no cheaper here and
        its reconnects trip over resource versions)."""
        while not self._stop.wait(POLL_SECONDS):
            for name in WATCHED:
                crd = self._api.read_custom_resource_definition(name)
                if not has_storage(crd.to_dict()):
                    self.lost.append(name)

    def note(self) -> str:
        if not self.lost:
            return ""
        return (
            f"; the cluster's CRDs ({', '.join(sorted(set(self.lost)))}) lost resultStorage "
            "during the test (another checkout applied older ones), so the API server dropped "
            "the field when the operator and the CLI read the objects"
        )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


WATCHED = ("deployments.kflow.dev", "workpools.kflow.dev")
POLL_SECONDS = 0.3


def has_storage(crd: dict[str, Any]) -> bool:
    schema = crd["spec"]["versions"][0]["schema"]
    spec = (schema.get("open_apiv3_schema") or schema.get("openAPIV3Schema"))["properties"]["spec"]
    return "resultStorage" in spec["properties"]["infrastructure"]["properties"]


@pytest.fixture(autouse=True)
def crd_watch(
    kubectl: Kubectl, cluster: Cluster, api_client: client.ApiClient
) -> Iterator[CrdWatch]:
    """This checkout's CRDs again, served (the API server serves a changed CRD's schema a
    moment after the change), and watched for the rest of the test."""
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    probe = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkPool",
        "metadata": {"name": "probe", "namespace": cluster.namespace},
        "spec": {
            "type": "process",
            "infrastructure": {"resultStorage": {"volume": {"mountPath": "/r"}}},
        },
    }

    def served() -> bool:
        created = json_object(
            cluster.objects.create_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, "workpools", probe, dry_run="All"
            )
        )
        return "resultStorage" in created["spec"]["infrastructure"]

    wait_until("the API server serves this checkout's CRDs", served, timeout=60, interval=0.2)
    watching = CrdWatch(api_client)
    yield watching
    watching.stop()


def kept_storage(stored: dict[str, Any]) -> None:
    assert "resultStorage" in stored["spec"]["infrastructure"], (
        "the API server dropped infrastructure.resultStorage: the cluster's CRDs are older "
        "than this checkout's (another checkout applied its own)"
    )


def task_runs(run: dict[str, Any]) -> list[dict[str, Any]]:
    recent: list[dict[str, Any]] = run["status"]["taskRuns"]["recent"]
    return recent


def test_two_runs_of_a_deployment_share_the_cache_in_the_pools_storage(
    cluster: Cluster, operators: OperatorFactory, crd_watch: CrdWatch, tmp_path: Path
) -> None:
    results, marks = tmp_path / "results", tmp_path / "marks"
    marks.mkdir()
    pool = cluster.workpool(
        "shared",
        {
            "type": "process",
            "infrastructure": {"resultStorage": {"volume": {"mountPath": str(results)}}},
        },
    )
    kept_storage(pool)
    for name, entrypoint in (("cacher", "flows.py:cached"), ("big", "flows.py:big")):
        cluster.deployment(
            name,
            {
                "entrypoint": entrypoint,
                "workPool": {"name": "shared"},
                "infrastructure": {"env": {"TEST_MARKS": str(marks)}},
            },
        )
    operators.start()
    first = run_deployment("cacher", parameters={"x": 4}, timeout=120, namespace=cluster.namespace)
    second = run_deployment("cacher", parameters={"x": 4}, timeout=120, namespace=cluster.namespace)
    assert first.state.is_completed(), first.state
    assert second.state.is_completed(), second.state
    assert (first.state.result(), second.state.result()) == (40, 40)
    assert (marks / "expensive-runs").read_text() == "x", "the body ran once for both runs" + (
        crd_watch.note()
    )
    (computed,) = task_runs(cluster.get_flowrun(first.name))
    (hit,) = task_runs(cluster.get_flowrun(second.name))
    assert (computed["stateType"], computed.get("stateName")) == ("COMPLETED", "Completed")
    assert (hit["stateType"], hit.get("stateName")) == ("COMPLETED", "Cached")
    assert list((results / "cache").iterdir()), "the cache entry is in the pool's storage"

    big = run_deployment("big", timeout=120, namespace=cluster.namespace)
    assert big.state.is_completed(), big.state
    assert big.result_reference == str(results / big.id / "flow.pickle"), crd_watch.note()
    assert big.state.result() == "x" * 20000

    inspected = kflow(cluster, "flow-run", "inspect", big.name)
    assert inspected.returncode == 0, inspected.stderr
    row = next((line for line in inspected.stdout.splitlines() if "resultStorage" in line), "")
    assert row, inspected.stdout + crd_watch.note()
    assert row.split() == ["resultStorage", "WorkPool", "shared", str(results)], row
    assert f"{results}/{big.id}/flow.pickle" in inspected.stdout


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with local_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket; this process reads it with the Secret's credentials, as a user would."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    name = f"kflow-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


def credentials_secret(cluster: Cluster, name: str, *, labelled: bool) -> None:
    labels = {"kflow.dev/result-storage": "true"} if labelled else {}
    data = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        ),
    )


def bucket_deployment(cluster: Cluster, bucket: str, endpoint: str) -> None:
    deployment = cluster.deployment(
        "to-bucket",
        {
            "entrypoint": "flows.py:big",
            "infrastructure": {
                "type": "process",
                "resultStorage": {
                    "s3": {
                        "bucket": bucket,
                        "prefix": "runs",
                        "endpointURL": endpoint,
                        "region": "us-east-1",
                        "credentialsSecretRef": {"name": "s3-creds"},
                    }
                },
            },
        },
    )
    kept_storage(deployment)


def test_a_deployment_keeps_its_result_in_a_bucket_with_credentials_from_a_secret(
    cluster: Cluster,
    operators: OperatorFactory,
    crd_watch: CrdWatch,
    bucket: str,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    credentials_secret(cluster, "s3-creds", labelled=True)
    bucket_deployment(cluster, bucket, s3_endpoint)
    with monkeypatch.context() as operator_env:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
            operator_env.delenv(name)  # the run gets them from its resultStorage only
        operators.start()
    run = run_deployment("to-bucket", timeout=120, namespace=cluster.namespace)
    assert run.state.is_completed(), run.state
    assert run.result_reference == f"s3://{bucket}/runs/{run.id}/flow.pickle", crd_watch.note()
    assert run.state.result() == "x" * 20000
    stored = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=bucket)
    assert f"runs/{run.id}/flow.pickle" in [item["Key"] for item in stored["Contents"]]
    flow_run = json.dumps(cluster.get_flowrun(run.name))
    assert SECRET_KEY not in flow_run and KEY_ID not in flow_run
    inspected = kflow(cluster, "flow-run", "inspect", run.name)
    assert f"s3://{bucket}/runs at {s3_endpoint} (credentials: Secret s3-creds)" in (
        inspected.stdout
    ), inspected.stdout + crd_watch.note()


def test_an_unlabelled_credentials_secret_fails_the_run_saying_how_to_mark_it(
    cluster: Cluster, operators: OperatorFactory, crd_watch: CrdWatch, bucket: str, s3_endpoint: str
) -> None:
    credentials_secret(cluster, "s3-creds", labelled=False)
    bucket_deployment(cluster, bucket, s3_endpoint)
    operators.start()
    run = run_deployment("to-bucket", timeout=120, namespace=cluster.namespace)
    assert run.state.is_failed(), f"{run.state}{crd_watch.note()}"
    message = run.state.message or ""
    assert (
        f"Secret {cluster.namespace}/s3-creds named by resultStorage.s3.credentialsSecretRef"
        in (message)
    )
    assert (
        f"kubectl label secret -n {cluster.namespace} s3-creds kflow.dev/result-storage=true"
        in (message)
    )


def kflow(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KFLOW), *args, "-n", cluster.namespace],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, PYTHONIOENCODING="utf-8"),
    )
