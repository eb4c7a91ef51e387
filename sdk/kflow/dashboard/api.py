"""The calls the dashboard makes to the Kubernetes API on a person's behalf, with their
credentials (kflow.cluster.rest, the client the flow process and the CLI use).

The REST client blocks, so every call runs in a worker thread and the event loop keeps
serving other pages meanwhile. Writes are merge patches of `spec` and creations of FlowRuns,
nothing else (DESIGN §6): whether a person may do one is the API server's decision, and its
refusal (403 with its message) is what the page shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from kflow.cluster.credentials import StaticToken
from kflow.cluster.rest import TRANSPORT_ERRORS, ApiError, KubeRestClient
from kflow.dashboard.logs import LogTail, read_tail
from kflow.dashboard.refusals import events_refusal, is_refused
from kflow.resources import DEPLOYMENT_PLURAL as DEPLOYMENTS
from kflow.resources import FLOWRUN_PLURAL as FLOWRUNS
from kflow.resources import GROUP, VERSION

EVENTS_LIMIT = 50
"""Events shown per object: the newest this many (the API server keeps an hour of them)."""


def collection_path(plural: str, namespace: str | None) -> str:
    """The kflow.dev collection of one namespace, or of every namespace when None."""
    if namespace is None:
        return f"/apis/{GROUP}/{VERSION}/{plural}"
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"


def served_kinds(rest: KubeRestClient) -> frozenset[str]:
    """The plurals the cluster serves in kflow.dev (workpools only once that CRD exists); the
    always-present kinds when discovery fails (the watches will then say why)."""
    try:
        listed = rest.get(f"/apis/{GROUP}/{VERSION}")
    except (ApiError, *TRANSPORT_ERRORS):
        return frozenset()
    return frozenset(str(r.get("name")) for r in listed.get("resources") or [])


def job_name(infrastructure: Mapping[str, Any]) -> str | None:
    """The Job of a kubernetes-job run, from its identifier `namespace/job-name@job-uid`."""
    if infrastructure.get("type") != "kubernetes-job":
        return None
    ident = str(infrastructure.get("id") or "")
    _, _, rest = ident.partition("/")
    name = rest.partition("@")[0]
    return name or None


class DashboardApi(Protocol):
    """Where the pages' objects come from and where their actions go: the cluster, or the
    local history (kflow.dashboard.local_source)."""

    namespace: str | None
    has_events: bool
    """Whether runs have Kubernetes Events to show."""
    authority: str
    """Who refuses an action, for the page to say so."""

    @property
    def server(self) -> str: ...

    async def create_flow_run(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch_flow_run_spec(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    async def patch_deployment_spec(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    async def run_events(
        self, namespace: str, name: str, infrastructure: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    async def log_tail(self, run: Mapping[str, Any]) -> LogTail: ...


class ClusterApi:
    has_events = True
    authority = "The Kubernetes API server"

    def __init__(self, rest: KubeRestClient, namespace: str | None) -> None:
        self.rest = rest
        self.namespace = namespace
        """The one namespace shown, or None for all the namespaces the person may list."""

    @property
    def server(self) -> str:
        return self.rest.host

    def with_token(self, token: str) -> ClusterApi:
        """The same calls made with a person's bearer token instead of our credentials."""
        credentials = replace(
            self.rest.credentials,
            token=StaticToken(token),
            client_certificate=None,
            client_key=None,
        )
        return ClusterApi(KubeRestClient(credentials), self.namespace)

    async def create_flow_run(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        path = collection_path(FLOWRUNS, namespace)
        return await asyncio.to_thread(self.rest.request, "POST", path, body=body)

    async def patch_flow_run_spec(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        path = f"{collection_path(FLOWRUNS, namespace)}/{name}"
        return await asyncio.to_thread(self.rest.merge_patch, path, {"spec": patch})

    async def patch_deployment_spec(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        path = f"{collection_path(DEPLOYMENTS, namespace)}/{name}"
        return await asyncio.to_thread(self.rest.merge_patch, path, {"spec": patch})

    async def log_tail(self, run: Mapping[str, Any]) -> LogTail:
        return await asyncio.to_thread(read_tail, self.rest, run)

    async def run_events(
        self, namespace: str, name: str, infrastructure: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Events of the FlowRun and, for a Job run, of its Job and pods, oldest first; and
        why some could not be read (e.g. no right to list pods: the ones read before are
        kept), or None."""
        return await asyncio.to_thread(self._run_events, namespace, name, infrastructure)

    def _run_events(
        self, namespace: str, name: str, infrastructure: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None]:
        events: list[dict[str, Any]] = []
        finding_pods = False
        try:
            events += self._events_of(namespace, name)
            job = job_name(infrastructure)
            if job is not None:
                events += self._events_of(namespace, job)
                finding_pods = True
                pods = self.rest.get(
                    f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": f"job-name={job}"}
                )
                finding_pods = False
                for pod in pods.get("items") or []:
                    events += self._events_of(namespace, str(pod["metadata"]["name"]))
        except ApiError as error:
            if is_refused(error):
                return sorted(events, key=_event_time), events_refusal(namespace, finding_pods)
            return sorted(
                events, key=_event_time
            ), f"{error.status} {error.reason}: {error.message}"
        except TRANSPORT_ERRORS as error:
            return [], f"the API server {self.server} cannot be reached ({error})"
        return sorted(events, key=_event_time), None

    def _events_of(self, namespace: str, involved_name: str) -> list[dict[str, Any]]:
        listed = self.rest.get(
            f"/api/v1/namespaces/{namespace}/events",
            {"fieldSelector": f"involvedObject.name={involved_name}", "limit": str(EVENTS_LIMIT)},
        )
        return list(listed.get("items") or [])


def _event_time(event: Mapping[str, Any]) -> tuple[str, int]:
    """When it last happened; the API server's order (resourceVersion) within a second."""
    version = str((event.get("metadata") or {}).get("resourceVersion") or "")
    return (
        str(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or (event.get("metadata") or {}).get("creationTimestamp")
            or ""
        ),
        int(version) if version.isdigit() else 0,
    )
