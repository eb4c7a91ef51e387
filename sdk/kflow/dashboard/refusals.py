"""What a run page says where one of its sections (logs, Events) cannot be read because the
person may not read what it is made of: what they may not do, in which namespace, and the right
to ask for. The API server's own 403 names a request ("cannot list resource pods"), not the
section the person was looking at, nor what would fix it."""

from __future__ import annotations

from dataclasses import dataclass

from kflow.cluster.rest import ApiError

FORBIDDEN = 403


@dataclass(frozen=True)
class Right:
    verb: str
    resource: str
    """As RBAC names it: `pods`, `pods/log`, `events` (all in the core API group)."""

    def __str__(self) -> str:
        return f"{self.verb} on {self.resource}"


LIST_PODS = Right("list", "pods")
GET_POD_LOGS = Right("get", "pods/log")
LIST_EVENTS = Right("list", "events")


def is_refused(error: ApiError) -> bool:
    return error.status == FORBIDDEN


def refusal(doing: str, right: Right, namespace: str) -> str:
    """E.g. "You may not read this run's pod logs in namespace team-a: ask for get on
    pods/log." """
    return f"You may not {doing} in namespace {namespace}: ask for {right}."


def pod_logs_refusal(namespace: str, finding_pod: bool) -> str:
    if finding_pod:
        return refusal("list the pods of this run's Job (to read its logs)", LIST_PODS, namespace)
    return refusal("read this run's pod logs", GET_POD_LOGS, namespace)


def events_refusal(namespace: str, finding_pods: bool) -> str:
    if finding_pods:
        return refusal("list the pods of this run's Job (for their Events)", LIST_PODS, namespace)
    return refusal("read the Kubernetes Events of this run", LIST_EVENTS, namespace)
