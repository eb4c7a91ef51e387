"""What a Job and its pods say about the run: running, ended, crashed and why (pure).

Crash detection reads the Job and its pods (`observation_of_job`); the launcher's watches on
Jobs and pods with our labels wake the run's supervisor within a second of Kubernetes knowing,
and keep the last state of deleted pods (their eviction/disruption reason would otherwise be
lost), which is handed in here with the live ones. The run counts as gone only when no pod of
it is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from kflow.resources import parse_timestamp

from kflow_operator.infrastructure import (
    RUNNING,
    Observation,
    ObservedPhase,
    signal_of_exit_code,
)
from kflow_operator.kubeapi import Body
from kflow_operator.launchers.base import UNRECORDED_GRACE_SECONDS
from kflow_operator.launchers.kubernetes_job.names import FLOW_CONTAINER, STOP_ANNOTATION
from kflow_operator.launchers.kubernetes_job.start_waits import job_wait, pod_wait

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


def pod_left_running(pod: Body) -> bool:
    """Neither finished nor with a finished flow container, nor being terminated already
    (an evicted pod is given its grace period by Kubernetes; we do not cut it short)."""
    container = _flow_container_status(pod) or {}
    return (
        not _pod_terminal(pod)
        and not (container.get("state") or {}).get("terminated")
        and termination_reason(pod, None) is None
    )


def stop_requested(obj: Body | None) -> bool:
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


def with_deleted_pods(live: Sequence[Body], deleted: Iterable[Body]) -> list[Body]:
    """The pods the API lists, plus the last state the watch saw of deleted ones it no longer
    lists (by name)."""
    seen = {(p.get("metadata") or {}).get("name") for p in live}
    return [*live, *(p for p in deleted if (p.get("metadata") or {}).get("name") not in seen)]


def observation_of_job(
    job: Body | None,
    pods: Sequence[Body],
    now: datetime,
    *,
    stopping: bool = False,
    image_deadline_seconds: float = 120.0,
    failed_creates: Sequence[Body] = (),
    pod_warnings: Mapping[str, Sequence[Body]] | None = None,
    job_ref: str = "the Job",
) -> Observation:
    """Running (and what holds it up before the flow starts, if anything), or how the run's
    Job ended, from the Job (None: it no longer exists), the pods of that Job (live ones, plus
    the last state of deleted ones the watch saw), while it has none its FailedCreate Events,
    and the Warning Events of pods slow to start (by pod name).

    `stopping`: kflow itself is deleting the Job (cancellation), so the run is gone only once
    no pod of it is left; otherwise a deleted Job is a crash at once.
    """
    stopping = stopping or stop_requested(job) or any(stop_requested(p) for p in pods)
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
            warnings = (pod_warnings or {}).get(str((pod.get("metadata") or {}).get("name")))
            waiting = pod_wait(pod, FLOW_CONTAINER, now, warnings or ())
            return Observation(ObservedPhase.RUNNING, waiting=waiting)
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
    return Observation(ObservedPhase.RUNNING, waiting=job_wait(job, failed_creates, now, job_ref))


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
