"""The Job launcher's pure decisions: the Job manifest, pod-template patches, and what a Job and
its pods say about the run (running, ended, crashed and why)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kflow.resources import EffectiveInfrastructure
from kflow_operator.infrastructure import LaunchRequest, ObservedPhase
from kflow_operator.launchers.base import LaunchError
from kflow_operator.launchers.flow_account import FLOW_ROLE_RULES
from kflow_operator.launchers.kubernetes_job.manifest import job_manifest, strategic_merge
from kflow_operator.launchers.kubernetes_job.names import (
    STOP_ANNOTATION,
    JobId,
    format_job_id,
    job_name,
)
from kflow_operator.launchers.kubernetes_job.observe import (
    observation_of_job,
    should_delete_unrecorded,
)

UID = "5f0c6a53-2a39-4c34-9d2e-0c1b2a3d4e5f"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def request(job: dict[str, Any] | None = None, name: str = "nightly-etl") -> LaunchRequest:
    spec: dict[str, Any] = {"type": "kubernetes-job", "image": "flows:1"}
    if job is not None:
        spec["job"] = job
    return LaunchRequest(
        namespace="team",
        name=name,
        uid=UID,
        attempt=2,
        infrastructure=EffectiveInfrastructure.model_validate(spec),
        env={
            "KFLOW_FLOW_RUN_NAMESPACE": "team",
            "KFLOW_FLOW_RUN_NAME": name,
            "KFLOW_FLOW_RUN_UID": UID,
            "MODE": "prod",
        },
    )


# --- names and ids ---------------------------------------------------------------------------


def test_job_name_is_a_deterministic_dns_label() -> None:
    long = "Nightly.ETL_" + "x" * 300
    name = job_name(request(name=long))
    assert name == job_name(request(name=long))
    assert len(name) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    assert name.endswith("-5f0c6a53-2")


def test_job_id_round_trip_and_errors() -> None:
    text = format_job_id("team", "etl-1", "u-1")
    assert JobId.parse(text) == JobId("team", "etl-1", "u-1")
    assert JobId.parse("team/etl-1") == JobId("team", "etl-1", None)
    with pytest.raises(ValueError, match="namespace/job-name@job-uid"):
        JobId.parse("etl-1")


# --- the manifest ----------------------------------------------------------------------------


def test_manifest_basics() -> None:
    job = job_manifest(request(), "kflow-flow-run")
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["suspend"] is True
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "FlowRun",
        "nightly-etl",
        UID,
        True,
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "kflow-flow-run"
    (container,) = pod["containers"]
    assert container["command"] == ["kflow", "execute"]
    assert container["image"] == "flows:1"
    assert {"name": "MODE", "value": "prod"} in container["env"]


def test_manifest_job_options() -> None:
    job = job_manifest(request({"activeDeadlineSeconds": 60, "ttlSecondsAfterFinished": 5}), None)
    assert job["spec"]["activeDeadlineSeconds"] == 60
    assert job["spec"]["ttlSecondsAfterFinished"] == 5
    assert "serviceAccountName" not in job["spec"]["template"]["spec"]


def test_pod_template_patch_merges_like_kubectl() -> None:
    patch = {
        "metadata": {"labels": {"team": "data"}},
        "spec": {
            "serviceAccountName": "etl",
            "nodeSelector": {"pool": "batch"},
            "tolerations": [{"key": "batch", "operator": "Exists"}],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
            "containers": [
                {
                    "name": "flow",
                    "resources": {"limits": {"memory": "256Mi"}},
                    "env": [{"name": "MODE", "value": "test"}, {"name": "EXTRA", "value": "1"}],
                    "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                },
                {"name": "sidecar", "image": "proxy:1"},
            ],
        },
    }
    template = job_manifest(request({"podTemplatePatch": patch}), None)["spec"]["template"]
    spec = template["spec"]
    assert template["metadata"]["labels"]["team"] == "data"
    assert template["metadata"]["labels"]["kflow.dev/flow-run-uid"] == UID
    assert spec["serviceAccountName"] == "etl"
    assert spec["nodeSelector"] == {"pool": "batch"}
    assert spec["tolerations"] == [{"key": "batch", "operator": "Exists"}]
    flow, sidecar = spec["containers"]
    assert flow["image"] == "flows:1" and sidecar == {"name": "sidecar", "image": "proxy:1"}
    assert flow["resources"] == {"limits": {"memory": "256Mi"}}
    env = {e["name"]: e["value"] for e in flow["env"]}
    assert env["MODE"] == "test" and env["EXTRA"] == "1"
    assert flow["volumeMounts"] == [{"name": "scratch", "mountPath": "/scratch"}]


def test_patch_cannot_redirect_the_run() -> None:
    patch = {
        "spec": {
            "containers": [
                {"env": [{"name": "KFLOW_FLOW_RUN_NAME", "value": "someone-else"}]},
            ]
        }
    }
    container = job_manifest(request({"podTemplatePatch": patch}), None)["spec"]["template"][
        "spec"
    ]["containers"][0]
    assert {"name": "KFLOW_FLOW_RUN_NAME", "value": "nightly-etl"} in container["env"]
    assert {"name": "KFLOW_FLOW_RUN_NAME", "value": "someone-else"} not in container["env"]


def test_patch_errors_name_the_field() -> None:
    with pytest.raises(LaunchError, match=r"podTemplatePatch\.spec\.restartPolicy must be Never"):
        job_manifest(request({"podTemplatePatch": {"spec": {"restartPolicy": "OnFailure"}}}), None)
    with pytest.raises(LaunchError, match="container named 'flow'"):
        job_manifest(request({"podTemplatePatch": {"spec": {"containers": None}}}), None)


def test_strategic_merge_null_deletes_and_plain_lists_replace() -> None:
    base = {"a": 1, "b": {"c": 2}, "args": ["x"]}
    assert strategic_merge(base, {"a": None, "b": {"d": 3}, "args": ["y"]}) == {
        "b": {"c": 2, "d": 3},
        "args": ["y"],
    }


def test_flow_role_grants_reads_and_status_writes_only() -> None:
    verbs = {(r, v) for rule in FLOW_ROLE_RULES for r in rule["resources"] for v in rule["verbs"]}
    assert ("flowruns/status", "patch") in verbs
    assert ("deployments", "get") in verbs
    assert not {v for r, v in verbs if r == "deployments"} - {"get", "list", "watch"}
    assert ("flowruns", "delete") not in verbs and ("flowruns", "create") not in verbs
    assert all(rule["apiGroups"] == ["kflow.dev"] for rule in FLOW_ROLE_RULES)


# --- what a Job and its pods say ------------------------------------------------------------


def job(**status: Any) -> dict[str, Any]:
    spec = {"suspend": status.pop("suspend", False)}
    meta: dict[str, Any] = {"name": "etl-1", "uid": "j1", "creationTimestamp": ts(100)}
    if status.pop("deleting", False):
        meta["deletionTimestamp"] = ts(1)
    if status.pop("stop", False):
        meta["annotations"] = {STOP_ANNOTATION: ts(2)}
    return {"metadata": meta, "spec": spec, "status": status}


def cond(kind: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": "True", "reason": reason, "message": message}


def pod(
    phase: str = "Running",
    state: dict[str, Any] | None = None,
    age: float = 10,
    deleted: bool = False,
    deleting: bool = False,
    **status: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "etl-1-abcde", "creationTimestamp": ts(age)}
    if deleted:
        meta["deleted"] = True
    if deleting:
        meta["deletionTimestamp"] = ts(1)
    container = {"name": "flow", "state": state or {"running": {}}}
    return {
        "metadata": meta,
        "status": {"phase": phase, "containerStatuses": [container], **status},
    }


def terminated(code: int, reason: str = "Error") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason}}


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message}}


def observe(j: dict[str, Any] | None, pods: list[dict[str, Any]], **kw: Any) -> Any:
    return observation_of_job(j, pods, NOW, job_ref="Job team/etl-1", **kw)


def test_running_pod_and_pending_job_are_running() -> None:
    assert not observe(job(), [pod()]).gone
    assert not observe(job(suspend=True), []).gone
    assert not observe(job(startTime=ts(5)), []).gone
    assert not observe(job(), [pod("Pending", waiting("ContainerCreating"))]).gone


def test_completed_pod() -> None:
    seen = observe(
        job(conditions=[cond("Complete")]), [pod("Succeeded", terminated(0, "Completed"))]
    )
    assert (seen.phase, seen.exit_code, seen.reason) == (ObservedPhase.EXITED, 0, "")


def test_failed_pod_exit_code() -> None:
    seen = observe(
        job(conditions=[cond("Failed", "BackoffLimitExceeded")]), [pod("Failed", terminated(1))]
    )
    assert (seen.exit_code, seen.reason) == (1, "Error")
    assert seen.describe() == "exited with code 1 (Error)"


def test_oom_killed() -> None:
    seen = observe(job(), [pod("Failed", terminated(137, "OOMKilled"))])
    assert seen.gone and seen.signal == "SIGKILL" and "OOMKilled" in seen.reason


def test_evicted_pod() -> None:
    evicted = pod(
        "Failed",
        {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown"}},
        reason="Evicted",
        message="The node was low on resource: memory.",
    )
    seen = observe(job(), [evicted])
    assert seen.gone
    assert "Evicted: The node was low on resource: memory." in seen.reason


def test_pod_deleted_from_outside_keeps_its_last_words() -> None:
    last = pod(
        "Running",
        deleted=True,
        conditions=[cond("DisruptionTarget", "EvictionByEvictionAPI", "Eviction API: evicting")],
    )
    seen = observe(job(), [last])
    assert seen.gone and "pod was deleted" in seen.reason and "EvictionByEvictionAPI" in seen.reason


def test_pod_being_evicted_is_reported_before_it_is_gone_with_the_reason() -> None:
    """The Eviction API marks the pod, then deletes it: the run is not RUNNING any more from
    the moment Kubernetes says so, and the message carries Kubernetes' reason."""
    evicting = pod(
        "Running",
        conditions=[cond("DisruptionTarget", "EvictionByEvictionAPI", "Eviction API: evicting")],
    )
    seen = observe(job(), [evicting])
    assert seen.gone and seen.phase is ObservedPhase.EXITED
    assert seen.reason == "pod is being terminated; EvictionByEvictionAPI: Eviction API: evicting"
    assert observe(job(), [pod("Running", deleting=True)]).reason == "pod is being terminated"


def test_a_terminating_pod_of_a_cancelled_run_is_still_running() -> None:
    evicting = pod("Running", deleting=True, conditions=[cond("DisruptionTarget", "X", "y")])
    assert not observe(job(stop=True), [evicting]).gone
    assert not observe(job(), [evicting], stopping=True).gone


def test_pod_terminated_for_the_jobs_deadline_says_so() -> None:
    failing = job(conditions=[cond("FailureTarget", "DeadlineExceeded", "active too long")])
    seen = observe(failing, [pod("Running", deleting=True)])
    assert "Job failed: DeadlineExceeded" in seen.reason


def test_node_loss_reason() -> None:
    lost = pod(
        "Failed",
        None,
        reason="NodeLost",
        conditions=[cond("DisruptionTarget", "DeletionByTaintManager", "Taint manager: deleting")],
    )
    seen = observe(job(), [lost])
    assert "NodeLost" in seen.reason and "DeletionByTaintManager" in seen.reason


def test_image_pull_errors_crash_only_past_the_deadline() -> None:
    young = pod("Pending", waiting("ImagePullBackOff", 'Back-off pulling image "nope:1"'), age=30)
    old = pod("Pending", waiting("ErrImagePull", 'pull access denied for "nope"'), age=200)
    assert not observe(job(), [young], image_deadline_seconds=120).gone
    seen = observe(job(), [old], image_deadline_seconds=120)
    assert seen.gone and "ErrImagePull for 200s" in seen.reason and "nope" in seen.reason


def test_invalid_image_name_is_fatal_at_once() -> None:
    seen = observe(job(), [pod("Pending", waiting("InvalidImageName", "bad"), age=1)])
    assert seen.gone and "InvalidImageName" in seen.reason


def test_job_deleted_from_outside_is_gone_at_once_even_while_its_pod_terminates() -> None:
    seen = observe(None, [pod(deleting=True)])
    assert seen.phase is ObservedPhase.MISSING and "Job team/etl-1 was deleted" in seen.reason
    assert observe(job(deleting=True), [pod(deleting=True)]).gone


def test_orphaned_pods_keep_the_run_running() -> None:
    assert not observe(None, [pod()]).gone


def test_our_own_cancellation_waits_until_no_pod_is_left() -> None:
    terminating = pod(deleting=True)
    assert not observe(job(deleting=True, stop=True), [terminating]).gone
    assert not observe(job(deleting=True), [terminating], stopping=True).gone
    assert not observe(None, [terminating], stopping=True).gone
    assert observe(job(deleting=True, stop=True), []).gone
    assert observe(None, [], stopping=True).gone
    # a pod we force-deleted is remembered, but no longer counts as left
    assert observe(None, [pod(deleted=True)], stopping=True).gone


def test_deadline_exceeded() -> None:
    failed = job(
        conditions=[
            cond("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        ]
    )
    seen = observe(failed, [pod("Failed", terminated(143), reason="DeadlineExceeded")])
    assert seen.gone and "Job failed: DeadlineExceeded" in seen.reason


def test_job_that_creates_no_pod() -> None:
    assert not observe(job(startTime=ts(60)), [], start_deadline_seconds=300).gone
    seen = observe(job(startTime=ts(400)), [], start_deadline_seconds=300)
    assert seen.gone and "created no pod within 300s" in seen.reason


def test_unrecorded_suspended_jobs_are_deleted_after_a_grace() -> None:
    held = job(suspend=True)
    run = {"status": {"infrastructure": {"id": "team/etl-1@j1"}}}
    assert not should_delete_unrecorded(held, run, "team/etl-1@j1", NOW)
    assert should_delete_unrecorded(held, {"status": {}}, "team/etl-1@j1", NOW)
    assert not should_delete_unrecorded(job(), {"status": {}}, "team/etl-1@j1", NOW)
    held["metadata"]["creationTimestamp"] = ts(5)
    assert not should_delete_unrecorded(held, {"status": {}}, "team/etl-1@j1", NOW)
