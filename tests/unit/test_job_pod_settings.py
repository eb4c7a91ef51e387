"""The first-class pod settings of kubernetes-job runs (a pool's nodeSelector, tolerations,
resources...) land in the Job's pod template, under any podTemplatePatch."""

from __future__ import annotations

from typing import Any

from kflow.resources import EffectiveInfrastructure, JobOptions
from kflow_operator.infrastructure import LaunchRequest
from kflow_operator.launchers.kubernetes_job.manifest import custom_service_account, job_manifest
from kflow_operator.launchers.kubernetes_job.names import FLOW_CONTAINER

UID = "0b7c6f1e-2a44-4d1e-9c1b-7a0f6f3e8d21"

POD_SETTINGS: dict[str, Any] = {
    "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
    "nodeSelector": {"disktype": "ssd"},
    "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                ]
            }
        }
    },
    "serviceAccountName": "etl-runner",
    "imagePullSecrets": ["registry-a", "registry-b"],
    "podLabels": {"team": "data", "kflow.dev/flow-run-name": "spoofed"},
    "podAnnotations": {"cost-center": "42"},
}


def request(job: dict[str, Any]) -> LaunchRequest:
    return LaunchRequest(
        namespace="team",
        name="nightly",
        uid=UID,
        attempt=1,
        infrastructure=EffectiveInfrastructure.model_validate(
            {"type": "kubernetes-job", "image": "flows:1", "job": job}
        ),
        env={"KFLOW_FLOW_RUN_NAME": "nightly"},
    )


def flow_container(manifest: dict[str, Any]) -> dict[str, Any]:
    containers = manifest["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == FLOW_CONTAINER)


def test_pod_settings_land_in_the_pod_template() -> None:
    manifest = job_manifest(request(POD_SETTINGS), None)
    template = manifest["spec"]["template"]
    spec = template["spec"]
    assert flow_container(manifest)["resources"] == POD_SETTINGS["resources"]
    assert spec["nodeSelector"] == {"disktype": "ssd"}
    assert spec["tolerations"] == POD_SETTINGS["tolerations"]
    assert spec["affinity"] == POD_SETTINGS["affinity"]
    assert spec["serviceAccountName"] == "etl-runner"
    assert spec["imagePullSecrets"] == [{"name": "registry-a"}, {"name": "registry-b"}]
    assert template["metadata"]["annotations"] == {"cost-center": "42"}
    labels = template["metadata"]["labels"]
    assert labels["team"] == "data"
    # kflow's own labels win: the operator finds the run's pods by them.
    assert labels["kflow.dev/flow-run-name"] == "nightly"
    assert labels == {**labels, **manifest["metadata"]["labels"]}


def test_the_pod_template_patch_still_wins() -> None:
    job = {
        **POD_SETTINGS,
        "podTemplatePatch": {
            "metadata": {"labels": {"team": "ops"}},
            "spec": {
                "nodeSelector": {"disktype": "nvme"},
                "serviceAccountName": "patched",
                "containers": [{"name": FLOW_CONTAINER, "resources": {"limits": {"cpu": "1"}}}],
            },
        },
    }
    manifest = job_manifest(request(job), None)
    spec = manifest["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"disktype": "nvme"}
    assert spec["serviceAccountName"] == "patched"
    assert spec["tolerations"] == POD_SETTINGS["tolerations"]
    resources = flow_container(manifest)["resources"]
    assert resources["limits"] == {"memory": "128Mi", "cpu": "1"}
    assert manifest["spec"]["template"]["metadata"]["labels"]["team"] == "ops"


def test_no_settings_no_fields() -> None:
    spec = job_manifest(request({}), "kflow-flow")["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "kflow-flow"
    for absent in ("nodeSelector", "tolerations", "affinity", "imagePullSecrets"):
        assert absent not in spec


def test_a_custom_service_account_replaces_kflows_flow_account() -> None:
    assert custom_service_account(None) is None
    assert custom_service_account(JobOptions.model_validate({})) is None
    assert custom_service_account(JobOptions.model_validate({"serviceAccountName": "a"})) == "a"
    both = {"serviceAccountName": "a", "podTemplatePatch": {"spec": {"serviceAccountName": "b"}}}
    assert custom_service_account(JobOptions.model_validate(both)) == "b"
