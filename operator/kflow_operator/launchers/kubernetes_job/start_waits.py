"""Why a Job has not started the flow yet, in Kubernetes' words (pure).

Kubernetes says it in four places: a container's waiting state (ErrImagePull,
ImagePullBackOff, CreateContainerConfigError, …), the pod's PodScheduled condition
(Unschedulable, with the scheduler's message), the pod's Warning Events while it stays in
ContainerCreating (FailedMount: a missing ConfigMap or volume), and, when the Job cannot create
its pod at all (a ResourceQuota, an admission webhook, a missing ServiceAccount), only the Job
controller's FailedCreate Events on the Job. The run shows the wait while it lasts (its PENDING
message and InfrastructureReady condition); decisions/start_wait.py decides when it has waited
too long.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from kflow.resources import parse_timestamp

from kflow_operator.infrastructure import StartWait
from kflow_operator.kubeapi import Body

STARTING_REASONS = frozenset({"ContainerCreating", "PodInitializing"})
"""Waiting reasons of a pod on its ordinary way to running: worth a word only when slow."""
SLOW_START_SECONDS = 30.0
"""A pod not running its flow container this long without a telling reason (a Job with no pod
and no FailedCreate Event) is reported as waiting, with its Warning Events' words if any."""
FAILED_CREATE = "FailedCreate"
"""The Job controller's Event reason when it cannot create a pod."""


def pod_wait(
    pod: Body, flow_container: str, now: datetime, warnings: Sequence[Body] = ()
) -> StartWait | None:
    """Why `pod` is held up before running the flow container, or None while it is not (or
    not for long: `warnings` are its Warning Events, read once it is slow)."""
    name = (pod.get("metadata") or {}).get("name")
    told = _telling_wait(pod, flow_container)
    if told is not None or not slow_to_start(pod, flow_container, now):
        return told
    reason = _starting_reason(pod, flow_container) or "PodPending"
    if warnings:
        newest = max(warnings, key=_event_time)
        detail = f"{newest.get('reason')}: {newest.get('message')}"
        return StartWait(str(newest.get("reason") or reason), f"pod {name} waits: {detail}")
    return StartWait(reason, f"pod {name} waits: {reason} (no Warning Event says why)")


def slow_to_start(pod: Body, flow_container: str, now: datetime) -> bool:
    """Not running the flow container `SLOW_START_SECONDS` after it was created, with no
    telling reason in its status: its Warning Events may say why (the launcher reads them)."""
    if _telling_wait(pod, flow_container) is not None:
        return False
    status = pod.get("status") or {}
    main = _flow_status(pod, flow_container)
    state = main.get("state") or {}
    if state.get("running") or state.get("terminated"):
        return False
    if status.get("phase") not in (None, "Pending"):
        return False
    return _age(pod.get("metadata") or {}, "creationTimestamp", now) >= SLOW_START_SECONDS


def _telling_wait(pod: Body, flow_container: str) -> StartWait | None:
    """A wait the pod's status names: a container's waiting reason, or unscheduled."""
    status = pod.get("status") or {}
    name = (pod.get("metadata") or {}).get("name")
    init = list(status.get("initContainerStatuses") or [])
    main = [c for c in status.get("containerStatuses") or [] if c.get("name") == flow_container]
    for container in [*init, *main]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason and reason not in STARTING_REASONS:
            which = "" if container in main else f" (init container {container.get('name')})"
            return StartWait(
                str(reason), _words(f"pod {name} waits{which}: {reason}", waiting.get("message"))
            )
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = condition.get("reason") or "Unschedulable"
            return StartWait(
                str(reason), _words(f"pod {name} waits: {reason}", condition.get("message"))
            )
    return None


def _flow_status(pod: Body, flow_container: str) -> Body:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") == flow_container:
            return cast(Body, container)
    return {}


def _starting_reason(pod: Body, flow_container: str) -> str | None:
    waiting = (_flow_status(pod, flow_container).get("state") or {}).get("waiting") or {}
    return str(waiting["reason"]) if waiting.get("reason") else None


def job_wait(
    job: Body, failed_creates: Sequence[Body], now: datetime, job_ref: str
) -> StartWait | None:
    """Why a released Job has no pod: the newest FailedCreate Event's words; without one, past
    a short grace, that it has created none."""
    if failed_creates:
        newest = max(failed_creates, key=_event_time)
        words = str(newest.get("message") or "").removeprefix("Error creating: ")
        return StartWait(FAILED_CREATE, _words(f"{job_ref} cannot create its pod", words))
    if _age(job.get("status") or {}, "startTime", now) >= SLOW_START_SECONDS:
        return StartWait(
            "NoPod",
            f"{job_ref} has created no pod yet (see `kubectl describe job`: quota, admission "
            "or a missing service account)",
        )
    return None


def _age(obj: Body, key: str, now: datetime) -> float:
    """Seconds since the time at `obj[key]`; 0 when it has none."""
    stamp = obj.get(key)
    return (now - parse_timestamp(stamp)).total_seconds() if stamp else 0.0


def _event_time(event: Body) -> str:
    meta = cast(Body, event.get("metadata") or {})
    return str(
        event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp") or ""
    )


def _words(head: str, detail: object) -> str:
    return f"{head}: {detail}" if detail else head
