"""Runs `kflow execute` as a Kubernetes Job, one Job per attempt of a FlowRun.

The Job: `batch/v1`, the Deployment's image, the pod-template patch merged over ours,
`restartPolicy: Never` and `backoffLimit: 0` (flow retries are the SDK's business), owned by
the FlowRun (deleting the FlowRun deletes the Job and its pods).

Exactly-once launching (launchers/base.py): the Job is created *suspended* under a name derived
from the attempt's launch key (a second `launch` finds the first Job: 409 is success); `release`
unsuspends it once the operator has recorded it. A Job whose operator died in between stays
suspended: `adopt` (only ever called for identifiers the FlowRun status names) unsuspends it,
and the sweeper deletes suspended Jobs that no FlowRun names.

Identifier: scope = the UID of the `kube-system` namespace (a cluster's identity, stable across
API server addresses); id = `namespace/job-name@job-uid` — the UID, like a process's start
time, tells a Job from a later one of the same name.

Crash detection reads the Job and its pods (pure: `observation_of_job`); watches on Jobs and
pods with our labels wake the run's supervisor within a second of Kubernetes knowing, and keep
the last state of deleted pods (their eviction/disruption reason would otherwise be lost).

Cancellation: `stop` marks the Job and its pods as stopped by kflow, deletes the pods with the
run's grace period and the Job with foreground propagation; `kill` force-deletes what is left.
The run counts as gone only when no pod of it is left.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from kflow.cluster.kube import new_api_client
from kflow.resources import (
    API_VERSION,
    FLOWRUN_KIND,
    GROUP,
    InfrastructureType,
    parse_timestamp,
)
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kflow_operator.decisions.launch_plan import RUN_NAME_ENV, RUN_NAMESPACE_ENV, RUN_UID_ENV
from kflow_operator.identifiers import InfrastructureId
from kflow_operator.launchers.background import PerThread, Wakes, Workers
from kflow_operator.launchers.base import (
    DEFAULT_COMMAND,
    RUNNING,
    UNRECORDED_GRACE_SECONDS,
    FlowRunReader,
    Launched,
    Launcher,
    LaunchError,
    LaunchRequest,
    Observation,
    ObservedPhase,
    Wake,
    signal_of_exit_code,
)
from kflow_operator.launchers.flow_account import FLOW_ROLE_RULES as FLOW_ROLE_RULES
from kflow_operator.launchers.flow_account import (
    FLOW_SERVICE_ACCOUNT,
    LABEL_MANAGED,
    MANAGED_BY,
    FlowAccounts,
    api_message,
)
from kflow_operator.launchers.list_watch import Change, ListWatch

logger = logging.getLogger(__name__)

Body = dict[str, Any]

FLOW_CONTAINER = "flow"

LABEL_PREFIX = f"{GROUP}/"
LABEL_NAME = f"{LABEL_PREFIX}flow-run-name"
LABEL_UID = f"{LABEL_PREFIX}flow-run-uid"
LABEL_ATTEMPT = f"{LABEL_PREFIX}attempt"
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
OWN_SELECTOR = f"{LABEL_UID},{LABEL_MANAGED}={MANAGED_BY}"
"""Selects the Jobs and pods this launcher made (any run, any attempt)."""
STOP_ANNOTATION = f"{GROUP}/stop-requested"
"""Set on a Job and its pods by `stop`: their deletion is our cancellation, not a crash."""

READ_TIMEOUT = (10.0, 30.0)
"""(connect, read) seconds for the reads a run's supervisor makes on every look: a connection
that hangs must fail (and be retried) rather than leave the run unsupervised."""

IMAGE_WAIT_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Waiting reasons that may clear up (a registry back, a Secret created): fatal past a deadline."""
FATAL_WAIT_REASONS = frozenset({"InvalidImageName"})
"""Waiting reasons that never clear up: fatal at once."""


# --- pure parts ------------------------------------------------------------------------------


def job_name(request: LaunchRequest) -> str:
    """Deterministic per attempt and a DNS-1123 label (≤ 63), so `job-name` labels fit."""
    run = re.sub(r"[^a-z0-9-]+", "-", request.name.lower()).strip("-")[:40].rstrip("-")
    return f"{run or 'run'}-{request.uid.replace('-', '')[:8]}-{request.attempt}"


def format_job_id(namespace: str, name: str, uid: str) -> str:
    return f"{namespace}/{name}@{uid}"


@dataclass(frozen=True)
class JobId:
    namespace: str
    name: str
    uid: str | None

    @classmethod
    def parse(cls, text: str) -> JobId:
        path, _, uid = text.partition("@")
        namespace, sep, name = path.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(
                f"Job id {text!r} is not `namespace/job-name@job-uid` (e.g. `team/nightly-1@…`)"
            )
        return cls(namespace, name, uid or None)


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


def run_labels(request: LaunchRequest) -> dict[str, str]:
    return {
        LABEL_NAME: _label_value(request.name),
        LABEL_UID: request.uid,
        LABEL_ATTEMPT: str(request.attempt),
        LABEL_MANAGED: MANAGED_BY,
    }


def _label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return value.strip("-_.")


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
        "env": [{"name": k, "value": v} for k, v in request.env.items()],
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


def _age_seconds(timestamp: str | None, now: datetime) -> float:
    if not timestamp:
        return 0.0
    return (now - parse_timestamp(timestamp)).total_seconds()


def _flow_container_status(pod: Body) -> Body | None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if status.get("name") == FLOW_CONTAINER:
            return cast(Body, status)
    return cast(Body, statuses[0]) if statuses else None


def _condition(obj: Body, kind: str) -> Body | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return cast(Body, condition)
    return None


def _pod_terminal(pod: Body) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _pod_left_running(pod: Body) -> bool:
    """Neither finished nor with a finished flow container, nor being terminated already
    (an evicted pod is given its grace period by Kubernetes; we do not cut it short)."""
    container = _flow_container_status(pod) or {}
    return (
        not _pod_terminal(pod)
        and not (container.get("state") or {}).get("terminated")
        and termination_reason(pod, None) is None
    )


def _stop_requested(obj: Body | None) -> bool:
    return bool(obj and STOP_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {}))


def _words(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


def pod_exit(pod: Body) -> Observation:
    """How a terminated pod ended: the container's exit code and reason (OOMKilled, Error),
    the pod's reason (Evicted, DeadlineExceeded, NodeLost, …) and any disruption."""
    status = pod.get("status") or {}
    container = _flow_container_status(pod) or {}
    terminated = (container.get("state") or {}).get("terminated") or (
        (container.get("lastState") or {}).get("terminated")
    )
    exit_code: int | None = None
    container_reason = None
    if terminated:
        exit_code = terminated.get("exitCode")
        container_reason = terminated.get("reason")
        if container_reason in ("Completed", "Error") and not terminated.get("message"):
            container_reason = None if container_reason == "Completed" else "Error"
    disruption = _condition(pod, "DisruptionTarget")
    pod_reason = status.get("reason")
    pod_message = status.get("message")
    reason = _words(
        container_reason,
        f"{pod_reason}: {pod_message}" if pod_reason and pod_message else pod_reason,
        (
            f"{disruption.get('reason')}: {disruption.get('message')}"
            if disruption and disruption.get("reason") != pod_reason
            else None
        ),
    )
    signal = signal_of_exit_code(exit_code) if isinstance(exit_code, int) else None
    return Observation(ObservedPhase.EXITED, exit_code=exit_code, signal=signal, reason=reason)


def termination_reason(pod: Body, job: Body | None) -> str | None:
    """Why a live pod that kflow is not stopping is being terminated, or None if it is not.

    Kubernetes marks a pod it is about to terminate for a disruption (the Eviction API,
    preemption, node loss via the taint manager, garbage collection) with the DisruptionTarget
    condition before deleting it, and any deletion sets deletionTimestamp. Either way the pod will
    not finish the flow: reporting it now, with Kubernetes' reason, beats the flow's own SIGTERM
    report (which cannot know the reason) and never leaves the run RUNNING.
    """
    disruption = _condition(pod, "DisruptionTarget")
    deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
    if disruption is None and not deleting:
        return None
    failing = _condition(job, "Failed") or _condition(job, "FailureTarget") if job else None
    return _words(
        "pod is being terminated",
        f"{disruption.get('reason')}: {disruption.get('message')}" if disruption else None,
        _job_failure(failing) if failing else None,
    )


def stuck_reason(pod: Body, now: datetime, image_deadline_seconds: float) -> str | None:
    """Why a pod that has not started will never run the flow, or None while it may still."""
    container = _flow_container_status(pod) or {}
    waiting = (container.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason")
    message = waiting.get("message")
    if reason in FATAL_WAIT_REASONS:
        return _words(reason, message)
    if reason in IMAGE_WAIT_REASONS:
        age = _age_seconds((pod.get("metadata") or {}).get("creationTimestamp"), now)
        if age >= image_deadline_seconds:
            return _words(f"{reason} for {int(age)}s", message)
    return None


def observation_of_job(
    job: Body | None,
    pods: Sequence[Body],
    now: datetime,
    *,
    stopping: bool = False,
    image_deadline_seconds: float = 120.0,
    start_deadline_seconds: float = 300.0,
    job_ref: str = "the Job",
) -> Observation:
    """Running, or how the run's Job ended, from the Job (None: it no longer exists) and the
    pods of that Job (live ones, plus the last state of deleted ones the watch saw).

    `stopping`: kflow itself is deleting the Job (cancellation), so the run is gone only once
    no pod of it is left; otherwise a deleted Job is a crash at once.
    """
    stopping = stopping or _stop_requested(job) or any(_stop_requested(p) for p in pods)
    live = [p for p in pods if not (p.get("metadata") or {}).get("deleted")]
    active = [p for p in live if not _pod_terminal(p)]
    last_words = _last_pod(pods)
    if stopping and live:
        return RUNNING
    if job is None or (job.get("metadata") or {}).get("deletionTimestamp"):
        if active and not any((p.get("metadata") or {}).get("deletionTimestamp") for p in active):
            return RUNNING  # the Job was deleted leaving its pods (orphan): the run goes on
        ended = pod_exit(last_words) if last_words is not None else None
        gone = "was deleted" if job is None else "is being deleted"
        return Observation(
            ObservedPhase.MISSING,
            exit_code=ended.exit_code if ended else None,
            signal=ended.signal if ended else None,
            reason=_words(f"{job_ref} {gone}", ended.reason if ended else None),
        )
    for pod in active:
        terminating = termination_reason(pod, job)
        if terminating is not None:
            return Observation(ObservedPhase.EXITED, reason=terminating)
        stuck = stuck_reason(pod, now, image_deadline_seconds)
        if stuck is not None:
            return Observation(ObservedPhase.EXITED, reason=f"pod never started: {stuck}")
        container = _flow_container_status(pod) or {}
        if not (container.get("state") or {}).get("terminated"):
            return RUNNING
    if active:
        return pod_exit(active[0])  # container ended, pod phase not updated yet
    failed = _condition(job, "Failed")
    complete = _condition(job, "Complete") or _condition(job, "SuccessCriteriaMet")
    if last_words is not None and _pod_terminal(last_words):
        ended = pod_exit(last_words)
        if failed is not None and failed.get("reason") == "DeadlineExceeded":
            return Observation(
                ended.phase,
                ended.exit_code,
                ended.signal,
                _words(ended.reason, _job_failure(failed)),
            )
        return ended
    if failed is not None:
        return Observation(ObservedPhase.EXITED, reason=_job_failure(failed))
    if complete is not None:
        return Observation(ObservedPhase.EXITED, exit_code=0)
    if last_words is not None:  # deleted before it ended (kubectl delete pod, eviction)
        ended = pod_exit(last_words)
        return Observation(
            ObservedPhase.EXITED,
            exit_code=ended.exit_code,
            signal=ended.signal,
            reason=_words("pod was deleted", ended.reason),
        )
    spec = job.get("spec") or {}
    if spec.get("suspend"):
        return RUNNING  # held until the operator records it
    started = (job.get("status") or {}).get("startTime")
    if started and _age_seconds(started, now) >= start_deadline_seconds:
        return Observation(
            ObservedPhase.MISSING,
            reason=f"{job_ref} created no pod within {int(start_deadline_seconds)}s "
            "(see `kubectl describe job`: quota, admission or a missing service account)",
        )
    return RUNNING


def _job_failure(condition: Body) -> str:
    return _words(f"Job failed: {condition.get('reason')}", condition.get("message"))


def _last_pod(pods: Sequence[Body]) -> Body | None:
    if not pods:
        return None
    return max(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")


def should_delete_unrecorded(
    job: Body, flow_run: Mapping[str, Any] | None, job_id: str, now: datetime
) -> bool:
    """A suspended Job that its FlowRun does not name, old enough that no write is in flight:
    a launch whose operator died before recording it. (Jobs of deleted FlowRuns go with them:
    they are owned.)"""
    if not (job.get("spec") or {}).get("suspend"):
        return False
    age = _age_seconds((job.get("metadata") or {}).get("creationTimestamp"), now)
    if age < UNRECORDED_GRACE_SECONDS:
        return False
    infrastructure = ((flow_run or {}).get("status") or {}).get("infrastructure") or {}
    return bool(infrastructure.get("id") != job_id)


# --- the launcher -------------------------------------------------------------------------


@dataclass(frozen=True)
class JobLauncherOptions:
    namespaces: tuple[str, ...] = ()
    """Namespaces to watch; empty means all (the operator's own scope)."""
    image_pull_deadline_seconds: float = 120.0
    """A pod still failing to pull its image (or to create its container) this long after it
    was created ends the run CRASHED."""
    pod_start_deadline_seconds: float = 300.0
    """An unsuspended Job with no pod this long ends the run CRASHED."""
    sweep_seconds: float = 30.0
    manage_service_accounts: bool = True
    """Create the flow ServiceAccount/Role/RoleBinding per namespace on demand."""


def cluster_identity(api_client: client.ApiClient, wait_seconds: float = 30.0) -> str:
    """The UID of the kube-system namespace: what identifies a cluster whatever its address.

    A freshly started API server creates kube-system within seconds: a 404 is waited out
    (bounded); a 403 is raised at once (the operator lacks `get` on namespaces).
    """
    core: Any = client.CoreV1Api(api_client)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return str(core.read_namespace("kube-system").metadata.uid)
        except ApiException as error:
            if error.status != 404 or time.monotonic() >= deadline:
                raise
        time.sleep(0.5)


class KubernetesJobLauncher(Launcher):
    type = InfrastructureType.KUBERNETES_JOB

    def __init__(
        self, options: JobLauncherOptions, read_flow_run: FlowRunReader | None = None
    ) -> None:
        self._options = options
        self._read_flow_run = read_flow_run
        self._clients = PerThread(new_api_client)
        self._scope = cluster_identity(self._api())
        self.accounts = FlowAccounts(self._api, manage=options.manage_service_accounts)
        self._lock = threading.Lock()
        self._wakes = Wakes()
        self._deleted_pods: dict[str, dict[str, Body]] = {}
        self._stopping: set[str] = set()
        self._workers = Workers("kflow-job")
        self._watches: list[ListWatch] = []
        for namespace in options.namespaces or (None,):
            for kind in ("pods", "jobs"):
                watch = ListWatch(
                    f"{kind} of kflow Jobs in {namespace or 'all namespaces'}",
                    self._lister(kind, namespace),
                    OWN_SELECTOR,
                    functools.partial(self._on_change, kind),
                    self._workers.closed,
                )
                self._watches.append(watch)
                self._workers.run(f"watch-{kind}-{namespace or 'all'}", watch.run)
        if read_flow_run is not None:
            self._workers.every("sweeper", options.sweep_seconds, self.sweep, "sweeping kflow Jobs")

    @property
    def scope(self) -> str:
        return self._scope

    def _api(self) -> client.ApiClient:
        return self._clients.get()

    # The generated clients are typed for their model classes; this launcher sends plain
    # manifests and reads raw JSON (`_preload_content=False`), which their stubs do not model.
    def _batch(self) -> Any:
        return client.BatchV1Api(self._api())

    def _core(self) -> Any:
        return client.CoreV1Api(self._api())

    def _rbac(self) -> Any:
        return client.RbacAuthorizationV1Api(self._api())

    # --- launching ----------------------------------------------------------------------------

    def launch(self, request: LaunchRequest) -> Launched:
        options = request.infrastructure.job
        patch_spec = ((options.pod_template_patch if options else None) or {}).get("spec") or {}
        custom_account = patch_spec.get("serviceAccountName")
        account = None if custom_account else FLOW_SERVICE_ACCOUNT
        if account is not None:
            self.accounts.ensure(request.namespace)
        manifest = job_manifest(request, account)
        name = manifest["metadata"]["name"]
        try:
            created = self._batch().create_namespaced_job(request.namespace, manifest)
            uid = str(created.metadata.uid)
        except ApiException as error:
            if error.status == 409:
                existing = self._batch().read_namespaced_job(name, request.namespace)
                uid = str(existing.metadata.uid)
            elif error.status in (400, 422):
                raise LaunchError(
                    f"Kubernetes refused the Job for this run: {api_message(error)}; "
                    "check spec.infrastructure (image, job.podTemplatePatch)"
                ) from error
            else:
                raise
        ident = format_job_id(request.namespace, name, uid)
        return Launched(InfrastructureId(self.type.value, self._scope, ident))

    def release(self, launched: Launched) -> None:
        self._unsuspend(JobId.parse(launched.identifier.id))

    def _unsuspend(self, job: JobId) -> None:
        try:
            self._batch().patch_namespaced_job(
                job.name, job.namespace, {"spec": {"suspend": False}}
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def discard(self, launched: Launched) -> None:
        job = JobId.parse(launched.identifier.id)
        self._delete_job(job, propagation="Background", grace=0)

    # --- watching -----------------------------------------------------------------------------

    def observe(self, identifier: InfrastructureId) -> Observation:
        job_id = JobId.parse(identifier.id)
        job = self._read_job(job_id)
        uid = job_id.uid or ((job or {}).get("metadata") or {}).get("uid")
        pods = self._pods_of(job_id.namespace, uid) if uid else []
        with self._lock:
            remembered = list(self._deleted_pods.get(uid or "", {}).values())
            stopping = (uid or "") in self._stopping
        seen = {(p.get("metadata") or {}).get("name") for p in pods}
        pods += [p for p in remembered if (p.get("metadata") or {}).get("name") not in seen]
        return observation_of_job(
            job,
            pods,
            datetime.now(UTC),
            stopping=stopping,
            image_deadline_seconds=self._options.image_pull_deadline_seconds,
            start_deadline_seconds=self._options.pod_start_deadline_seconds,
            job_ref=f"Job {job_id.namespace}/{job_id.name}",
        )

    def _read_job(self, job_id: JobId) -> Body | None:
        try:
            response = self._batch().read_namespaced_job(
                job_id.name,
                job_id.namespace,
                _preload_content=False,
                _request_timeout=READ_TIMEOUT,
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        body = cast(Body, json.loads(response.data))
        if job_id.uid and body["metadata"].get("uid") != job_id.uid:
            return None  # a later Job with the same name: ours is gone
        return body

    def _pods_of(self, namespace: str, job_uid: str) -> list[Body]:
        response = self._core().list_namespaced_pod(
            namespace,
            label_selector=f"{JOB_UID_LABEL}={job_uid}",
            _preload_content=False,
            _request_timeout=READ_TIMEOUT,
        )
        return list(json.loads(response.data).get("items") or [])

    def adopt(self, identifier: InfrastructureId, wake: Wake) -> None:
        job_id = JobId.parse(identifier.id)
        self._wakes.add(job_id.uid or job_id.name, wake)
        job = self._read_job(job_id)
        if job is None:
            wake()
        elif (job.get("spec") or {}).get("suspend") and not _stop_requested(job):
            # Recorded (the status names it) but never released: its operator died in between.
            self._unsuspend(job_id)

    def forget(self, identifier: InfrastructureId) -> None:
        job_id = JobId.parse(identifier.id)
        key = job_id.uid or job_id.name
        self._wakes.discard(key)
        with self._lock:
            self._deleted_pods.pop(key, None)
            self._stopping.discard(key)
        if job_id.uid and any(
            _pod_left_running(pod) for pod in self._pods_of(job_id.namespace, job_id.uid)
        ):
            # Finished with, yet a pod is still there and not done (stuck pulling its image,
            # say): no leftovers. Finished pods stay for their logs, until the FlowRun goes.
            self._delete_job(job_id, propagation="Background", grace=0)

    def _lister(self, kind: str, namespace: str | None) -> Any:
        """The list call of `kind` in `namespace` (None: all), on the watching thread's client."""
        core, batch = self._core(), self._batch()
        if kind == "pods":
            lister = core.list_namespaced_pod if namespace else core.list_pod_for_all_namespaces
        else:
            lister = batch.list_namespaced_job if namespace else batch.list_job_for_all_namespaces
        return functools.partial(lister, namespace) if namespace else lister

    def _on_change(self, kind: str, change: Change) -> None:
        """Wake the run a Job or pod belongs to; keep the last state of its deleted pods."""
        obj = change.object
        meta = obj.get("metadata") or {}
        if kind == "pods":
            key = str((meta.get("labels") or {}).get(JOB_UID_LABEL) or "")
            if change.type == "DELETED" and key in self._wakes:
                final = {**obj, "metadata": {**meta, "deleted": True}}
                with self._lock:
                    self._deleted_pods.setdefault(key, {})[str(meta.get("name"))] = final
        else:
            key = str(meta.get("uid") or "")
        self._wakes.wake(key)

    # --- stopping -----------------------------------------------------------------------------

    def stop(self, identifier: InfrastructureId, grace_seconds: int) -> None:
        """Mark, then delete the pods with the grace period (their own spec may say another)
        and the Job with foreground propagation, so the Job object stays until no pod is left."""
        job_id = JobId.parse(identifier.id)
        with self._lock:
            self._stopping.add(job_id.uid or job_id.name)
        mark = {"metadata": {"annotations": {STOP_ANNOTATION: datetime.now(UTC).isoformat()}}}
        try:
            self._batch().patch_namespaced_job(job_id.name, job_id.namespace, mark)
        except ApiException as error:
            if error.status != 404:
                raise
        for pod in self._pods_of(job_id.namespace, job_id.uid or "") if job_id.uid else []:
            name = pod["metadata"]["name"]
            try:
                self._core().patch_namespaced_pod(name, job_id.namespace, mark)
                self._core().delete_namespaced_pod(
                    name, job_id.namespace, grace_period_seconds=grace_seconds
                )
            except ApiException as error:
                if error.status != 404:
                    raise
        self._delete_job(job_id, propagation="Foreground", grace=grace_seconds)

    def kill(self, identifier: InfrastructureId) -> None:
        """Force-delete every pod of the Job that is left (grace 0), and the Job."""
        job_id = JobId.parse(identifier.id)
        with self._lock:
            self._stopping.add(job_id.uid or job_id.name)
        for pod in self._pods_of(job_id.namespace, job_id.uid) if job_id.uid else []:
            try:
                self._core().delete_namespaced_pod(
                    pod["metadata"]["name"], job_id.namespace, grace_period_seconds=0
                )
            except ApiException as error:
                if error.status != 404:
                    raise
        self._delete_job(job_id, propagation="Foreground", grace=0)

    def _delete_job(self, job_id: JobId, propagation: str, grace: int) -> None:
        options: Body = {"propagationPolicy": propagation, "gracePeriodSeconds": grace}
        if job_id.uid:
            options["preconditions"] = {"uid": job_id.uid}
        try:
            self._batch().delete_namespaced_job(job_id.name, job_id.namespace, body=options)
        except ApiException as error:
            if error.status not in (404, 409):  # gone, or a later Job of that name
                raise

    # --- sweeping -----------------------------------------------------------------------------

    def sweep(self) -> list[str]:
        """Delete suspended Jobs no FlowRun names (launches whose record never landed)."""
        assert self._read_flow_run is not None
        removed = []
        for namespace in self._options.namespaces or (None,):
            selector = OWN_SELECTOR
            batch = self._batch()
            response = (
                batch.list_namespaced_job(
                    namespace, label_selector=selector, _preload_content=False
                )
                if namespace
                else batch.list_job_for_all_namespaces(
                    label_selector=selector, _preload_content=False
                )
            )
            for job in json.loads(response.data).get("items") or []:
                meta = job["metadata"]
                owner = next(
                    (o for o in meta.get("ownerReferences") or [] if o.get("kind") == FLOWRUN_KIND),
                    None,
                )
                if owner is None:
                    continue
                job_id = format_job_id(meta["namespace"], meta["name"], meta["uid"])
                flow_run = self._read_flow_run(meta["namespace"], owner["name"])
                if should_delete_unrecorded(job, flow_run, job_id, datetime.now(UTC)):
                    logger.info("deleting Job %s: launched but never recorded", job_id)
                    self._delete_job(JobId.parse(job_id), propagation="Background", grace=0)
                    removed.append(job_id)
        return removed

    def close(self) -> None:
        self._workers.closed.set()
        for watch in self._watches:
            watch.stop()
        self._workers.close()


def job_ids(items: Iterable[Body]) -> list[str]:
    """`namespace/name@uid` of Job bodies (for tests and tooling)."""
    return [
        format_job_id(i["metadata"]["namespace"], i["metadata"]["name"], i["metadata"]["uid"])
        for i in items
    ]


# --- operator command line ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "Kubernetes Job launcher (infrastructure type kubernetes-job)"
    )
    group.add_argument(
        "--no-kubernetes-jobs",
        action="store_true",
        help="do not run `type: kubernetes-job` infrastructure",
    )
    group.add_argument(
        "--job-image-pull-deadline",
        metavar="SECONDS",
        type=float,
        default=JobLauncherOptions.image_pull_deadline_seconds,
        help="a flow pod that cannot pull its image (or create its container) this long "
        "ends its run CRASHED (default %(default)s)",
    )
    group.add_argument(
        "--no-flow-service-accounts",
        action="store_true",
        help="do not create the kflow-flow-run ServiceAccount/Role/RoleBinding per namespace "
        "that Job pods run as and Docker runs get tokens of (install them yourself, or set "
        "serviceAccountName in podTemplatePatch)",
    )


def from_arguments(
    args: argparse.Namespace, namespaces: tuple[str, ...], read_flow_run: FlowRunReader
) -> KubernetesJobLauncher | None:
    if args.no_kubernetes_jobs:
        return None
    options = JobLauncherOptions(
        namespaces=namespaces,
        image_pull_deadline_seconds=args.job_image_pull_deadline,
        manage_service_accounts=not args.no_flow_service_accounts,
    )
    try:
        return KubernetesJobLauncher(options, read_flow_run)
    except ApiException as error:
        if error.status != 403:
            raise
        logger.error(
            "Kubernetes Job launcher disabled: the operator may not read the kube-system "
            "namespace (the cluster's identity): %s; grant `get` on namespaces (the Helm chart "
            "does) to run kubernetes-job infrastructure",
            api_message(error),
        )
        return None
