"""`kubectl apply` refuses bad Deployments, FlowRuns and WorkPools, naming the field that is
wrong."""

from __future__ import annotations

import pytest

from tests.cluster.kubectl import KubectlError
from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration

GOOD_INFRA = "infrastructure: {type: process}"

BAD_MANIFESTS = [
    (
        "entrypoint without a function",
        "Deployment",
        f"entrypoint: flows.py\n  {GOOD_INFRA}",
        "spec.entrypoint",
    ),
    (
        "neither an infrastructure type nor a work pool",
        "Deployment",
        "entrypoint: flows.py:main",
        "a Deployment needs `workPool.name` or `infrastructure.type`",
    ),
    (
        "unknown infrastructure type",
        "Deployment",
        "entrypoint: flows.py:main\n  infrastructure: {type: lambda}",
        "spec.infrastructure.type",
    ),
    (
        "docker options on a process run",
        "Deployment",
        "entrypoint: flows.py:main\n  infrastructure: {type: process, docker: {network: host}}",
        "`docker` options apply to type docker only",
    ),
    (
        "schedule with cron and interval",
        "Deployment",
        f"entrypoint: flows.py:main\n  {GOOD_INFRA}\n"
        "  schedules: [{cron: '0 9 * * *', interval: 60}]",
        "exactly one of `cron` or `interval`",
    ),
    (
        "negative grace period",
        "Deployment",
        f"entrypoint: flows.py:main\n  {GOOD_INFRA}\n  cancelGracePeriodSeconds: -5",
        "spec.cancelGracePeriodSeconds",
    ),
    (
        "unknown concurrency policy",
        "Deployment",
        f"entrypoint: flows.py:main\n  {GOOD_INFRA}\n  concurrencyPolicy: Sometimes",
        "spec.concurrencyPolicy",
    ),
    ("FlowRun with nothing to run", "FlowRun", "parameters: {x: 1}", "deploymentRef.name"),
    (
        "FlowRun with a bad schedule time",
        "FlowRun",
        "deploymentRef: {name: d}\n  scheduledTime: tomorrow",
        "spec.scheduledTime",
    ),
    (
        "unknown work pool type",
        "WorkPool",
        "type: lambda",
        'spec.type: Unsupported value: "lambda"',
    ),
    (
        "negative work pool limit",
        "WorkPool",
        "type: process\n  concurrencyLimit: -1",
        "spec.concurrencyLimit",
    ),
    (
        "job options on a docker pool",
        "WorkPool",
        "type: docker\n  infrastructure: {job: {nodeSelector: {disk: ssd}}}",
        "`infrastructure.job` options apply to pools of type kubernetes-job only",
    ),
    (
        "a pool name that is not a DNS label",
        "Deployment",
        "entrypoint: flows.py:main\n  workPool: {name: Not_A_Pool}",
        "spec.workPool.name",
    ),
    (
        "a FlowRun moved to another pool",
        "FlowRun",
        "deploymentRef: {name: d}\n  workPool: {name: Bad}",
        "spec.workPool.name",
    ),
    (
        "FlowRun grace period too long",
        "FlowRun",
        "deploymentRef: {name: d}\n  cancelGracePeriodSeconds: 100000",
        "spec.cancelGracePeriodSeconds",
    ),
    (
        "result storage naming both a volume and a bucket",
        "Deployment",
        "entrypoint: flows.py:main\n  infrastructure: {type: process, resultStorage: "
        "{volume: {mountPath: /r}, s3: {bucket: results}}}",
        "resultStorage needs exactly one of `volume` or `s3`",
    ),
    (
        "a result claim on a process run",
        "Deployment",
        "entrypoint: flows.py:main\n  infrastructure: {type: process, resultStorage: "
        "{volume: {mountPath: /r, claimName: results}}}",
        "`resultStorage.volume.claimName` applies to type kubernetes-job only",
    ),
    (
        "a result bucket that is no bucket name",
        "FlowRun",
        "deploymentRef: {name: d}\n  infrastructure: {resultStorage: {s3: {bucket: Bad_Bucket}}}",
        "spec.infrastructure.resultStorage.s3.bucket",
    ),
    (
        "a kubernetes-job pool's result volume without a claim",
        "WorkPool",
        "type: kubernetes-job\n  infrastructure: {resultStorage: {volume: {mountPath: /r}}}",
        "needs `claimName` (the PersistentVolumeClaim mounted at mountPath)",
    ),
]


@pytest.mark.parametrize(
    ("kind", "spec", "named"),
    [case[1:] for case in BAD_MANIFESTS],
    ids=[case[0] for case in BAD_MANIFESTS],
)
def test_bad_manifest_is_refused_naming_the_field(
    cluster: Cluster, kind: str, spec: str, named: str
) -> None:
    manifest = (
        f"apiVersion: kflow.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: bad}}\nspec:\n  {spec}\n"
    )
    with pytest.raises(KubectlError) as refused:
        cluster.apply(manifest)
    assert named in str(refused.value)


def test_cancel_cannot_be_taken_back(cluster: Cluster) -> None:
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "scheduledTime": "2099-01-01T00:00:00Z"})
    cluster.cancel("r")
    with pytest.raises(KubectlError) as refused:
        cluster.kubectl.run(
            "patch", "flowrun", "r", "--type", "merge", "-p", '{"spec":{"cancel":false}}'
        )
    assert "`cancel` cannot be set back to false" in str(refused.value)


def test_good_manifests_are_listed_under_the_kflow_category(cluster: Cluster) -> None:
    cluster.apply(
        "apiVersion: kflow.dev/v1alpha1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
        "  entrypoint: flows.py:main\n  infrastructure: {type: process}\n"
        "  schedules: [{cron: '0 9 * * *', timezone: Asia/Tokyo}, {interval: 300}]\n"
    )
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "scheduledTime": "2099-01-01T00:00:00Z"})
    listed = cluster.kubectl.run("get", "kflow")
    assert "deployment.kflow.dev/d" in listed
    assert "flowrun.kflow.dev/r" in listed
    assert "STATE" in cluster.kubectl.run("get", "fr")
    assert "NEXT RUN" in cluster.kubectl.run("get", "kfd")
