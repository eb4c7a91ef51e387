"""The Job for one attempt of a FlowRun, built from its LaunchRequest (pure).

The Job: `batch/v1`, the Deployment's image, the first-class pod settings (resources,
nodeSelector, tolerations, affinity, serviceAccountName, imagePullSecrets, pod labels and
annotations; a pool sets them once for all its runs), then the pod-template patch merged over
all of that (the patch is the escape hatch, so it wins),
`restartPolicy: Never` and `backoffLimit: 0` (flow retries are the SDK's business), owned by
the FlowRun (deleting the FlowRun deletes the Job and its pods). It is created *suspended*
(launcher.py says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kflow.resources import API_VERSION, FLOWRUN_KIND, JobOptions, ResultStorage, SecretKey

from kflow_operator.decisions.launch_plan import RUN_NAME_ENV, RUN_NAMESPACE_ENV, RUN_UID_ENV
from kflow_operator.infrastructure import LaunchRequest
from kflow_operator.kubeapi import Body
from kflow_operator.launchers.base import DEFAULT_COMMAND, LaunchError
from kflow_operator.launchers.kubernetes_job.names import FLOW_CONTAINER, job_name, run_labels

_MERGE_KEYS: Mapping[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
}


def strategic_merge(base: Any, patch: Any, key: str | None = None) -> Any:
    """Kubernetes strategic-merge semantics for pod templates, enough for patches users write:
    maps merge, `null` deletes, lists of containers/env/volumes/mounts/ports merge by their
    merge key, other lists are replaced. A container without a name patches the flow's."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for name, value in patch.items():
            if value is None:
                merged.pop(name, None)
            elif name in merged:
                merged[name] = strategic_merge(merged[name], value, name)
            else:
                merged[name] = value
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and key is not None
        and key in _MERGE_KEYS
    ):
        merge_key = _MERGE_KEYS[key]
        merged_list = [dict(item) if isinstance(item, dict) else item for item in base]
        for item in patch:
            if not isinstance(item, dict):
                merged_list.append(item)
                continue
            if key == "containers" and merge_key not in item:
                item = {**item, merge_key: FLOW_CONTAINER}
            for index, existing in enumerate(merged_list):
                if isinstance(existing, dict) and existing.get(merge_key) == item.get(merge_key):
                    merged_list[index] = strategic_merge(existing, item, None)
                    break
            else:
                merged_list.append(item)
        return merged_list
    return patch


def job_manifest(request: LaunchRequest, service_account: str | None) -> Body:
    """The Job for one attempt, created suspended (see the module doc)."""
    infrastructure = request.infrastructure
    if not infrastructure.image:
        raise LaunchError("spec.infrastructure.image is required for type kubernetes-job")
    options = infrastructure.job
    container: Body = {
        "name": FLOW_CONTAINER,
        "image": infrastructure.image,
        "command": list(request.command or DEFAULT_COMMAND),
        "env": [{"name": k, "value": v} for k, v in request.env.items()]
        + [secret_env_var(name, ref) for name, ref in request.secret_env.items()],
    }
    if infrastructure.image_pull_policy is not None:
        container["imagePullPolicy"] = infrastructure.image_pull_policy.value
    labels = run_labels(request)
    template: Body = {
        "metadata": {"labels": dict(labels)},
        "spec": {
            "restartPolicy": "Never",
            "enableServiceLinks": False,
            "automountServiceAccountToken": True,
            "containers": [container],
        },
    }
    if service_account is not None:
        template["spec"]["serviceAccountName"] = service_account
    _mount_result_volume(template, container, infrastructure.result_storage)
    if options is not None:
        _apply_pod_settings(template, container, options, labels)
    patch = options.pod_template_patch if options else None
    if patch:
        template = strategic_merge(template, patch)
        _check_template(template, request)
    spec: Body = {"backoffLimit": 0, "suspend": True, "template": template}
    if options and options.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = options.active_deadline_seconds
    if options and options.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = options.ttl_seconds_after_finished
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(request),
            "namespace": request.namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": FLOWRUN_KIND,
                    "name": request.name,
                    "uid": request.uid,
                    "controller": True,
                }
            ],
        },
        "spec": spec,
    }


def _apply_pod_settings(
    template: Body, container: Body, options: JobOptions, labels: Mapping[str, str]
) -> None:
    """The first-class pod settings, under any podTemplatePatch; kflow's own labels win over
    podLabels (the operator finds its pods by them)."""
    spec = template["spec"]
    if options.resources:
        container["resources"] = dict(options.resources)
    if options.node_selector:
        spec["nodeSelector"] = dict(options.node_selector)
    if options.tolerations:
        spec["tolerations"] = [dict(toleration) for toleration in options.tolerations]
    if options.affinity:
        spec["affinity"] = dict(options.affinity)
    if options.service_account_name:
        spec["serviceAccountName"] = options.service_account_name
    if options.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in options.image_pull_secrets]
    metadata = template["metadata"]
    if options.pod_labels:
        metadata["labels"] = {**options.pod_labels, **labels}
    if options.pod_annotations:
        metadata["annotations"] = dict(options.pod_annotations)


def secret_env_var(name: str, ref: SecretKey) -> Body:
    """An env entry whose value the kubelet reads from the Secret: the operator never sees it."""
    return {
        "name": name,
        "valueFrom": {
            "secretKeyRef": {"name": ref.secret, "key": ref.key, "optional": ref.optional}
        },
    }


def _mount_result_volume(template: Body, container: Body, storage: ResultStorage | None) -> None:
    """The resultStorage claim, mounted where the flow's KFLOW_RESULT_STORAGE points."""
    if storage is None or storage.volume is None or storage.volume.claim_name is None:
        return
    volume = storage.volume
    template["spec"]["volumes"] = [
        {"name": RESULT_VOLUME, "persistentVolumeClaim": {"claimName": volume.claim_name}}
    ]
    mount: Body = {"name": RESULT_VOLUME, "mountPath": volume.mount_path}
    if volume.sub_path is not None:
        mount["subPath"] = volume.sub_path
    container["volumeMounts"] = [mount]


def custom_service_account(options: JobOptions | None) -> str | None:
    """The account a run's pods use instead of kflow's flow account: the patch's, else the
    first-class setting (the patch wins, as everywhere)."""
    if options is None:
        return None
    patch_spec = (options.pod_template_patch or {}).get("spec") or {}
    return patch_spec.get("serviceAccountName") or options.service_account_name


def _check_template(template: Body, request: LaunchRequest) -> None:
    """What a patch may not change, enforced with a message naming the field."""
    spec = template.get("spec") or {}
    field = "spec.infrastructure.job.podTemplatePatch"
    if spec.get("restartPolicy", "Never") != "Never":
        raise LaunchError(
            f"{field}.spec.restartPolicy must be Never (retries are the flow's: use "
            "@flow(retries=...)); remove it from the patch"
        )
    spec["restartPolicy"] = "Never"
    containers = spec.get("containers") or []
    flow = next((c for c in containers if c.get("name") == FLOW_CONTAINER), None)
    if flow is None or not flow.get("image"):
        raise LaunchError(
            f"{field}.spec.containers must keep the container named {FLOW_CONTAINER!r} "
            "with an image; name it so to patch it"
        )
    env = [e for e in flow.get("env") or [] if e.get("name") not in _RUN_ENV]
    flow["env"] = env + [
        {"name": name, "value": request.env[name]} for name in _RUN_ENV if name in request.env
    ]
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels.update(run_labels(request))


_RUN_ENV = (RUN_NAMESPACE_ENV, RUN_NAME_ENV, RUN_UID_ENV)
RESULT_VOLUME = "kflow-results"
