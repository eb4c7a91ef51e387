"""Why a Job has not started the flow yet, in Kubernetes' words (pure).

Kubernetes says it in three places: a container's waiting state (ErrImagePull,
ImagePullBackOff, CreateContainerConfigError, …), the pod's PodScheduled condition
(Unschedulable, with the scheduler's message), and, when the Job cannot create its pod at all (a
ResourceQuota, an admission webhook, a missing ServiceAccount), only the Job controller's
FailedCreate Events on the Job. The run shows the wait while it lasts (its PENDING message and
InfrastructureReady condition); decisions/start_wait.py decides when it has waited too long.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from kflow.resources import parse_timestamp

from kflow_operator.infrastructure import StartWait
from kflow_operator.kubeapi import Body

STARTING_REASONS = frozenset({"ContainerCreating", "PodInitializing"})
"""Waiting reasons of a pod on its ordinary way to running: not worth a word."""
NO_POD_GRACE_SECONDS = 30.0
"""A released Job with no pod and no FailedCreate Event this long is reported as waiting."""
FAILED_CREATE = "FailedCreate"
"""The Job controller's Event reason when it cannot create a pod."""


def pod_wait(pod: Body, flow_container: str) -> StartWait | None:
    """Why `pod` is held up before running the flow container, or None while it is not."""
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


def job_wait(
    job: Body, failed_creates: Sequence[Body], now: datetime, job_ref: str
) -> StartWait | None:
    """Why a released Job has no pod: the newest FailedCreate Event's words; without one, past
    a short grace, that it has created none."""
    if failed_creates:
        newest = max(failed_creates, key=_event_time)
        words = str(newest.get("message") or "").removeprefix("Error creating: ")
        return StartWait(FAILED_CREATE, _words(f"{job_ref} cannot create its pod", words))
    started = (job.get("status") or {}).get("startTime")
    if started and (now - parse_timestamp(started)).total_seconds() >= NO_POD_GRACE_SECONDS:
        return StartWait(
            "NoPod",
            f"{job_ref} has created no pod yet (see `kubectl describe job`: quota, admission "
            "or a missing service account)",
        )
    return None


def _event_time(event: Body) -> str:
    meta = cast(Body, event.get("metadata") or {})
    return str(
        event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp") or ""
    )


def _words(head: str, detail: object) -> str:
    return f"{head}: {detail}" if detail else head
