"""Calls on one FlowRun object: read it, patch its status conditionally, watch it.

Objects are plain dicts exactly as the API returns them; the interpretation lives in the pure
modules. Status patches carry `metadata.resourceVersion`, which makes the API server refuse
them with 409 when someone wrote in between, so nobody's write is silently lost.

This is the flow process's path, so it talks through `kflow.cluster.rest` and never imports
the `kubernetes` package.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from kflow.cluster.rest import TRANSPORT_ERRORS, ApiError, KubeRestClient
from kflow.resources import DEPLOYMENT_PLURAL as DEPLOYMENTS
from kflow.resources import FLOWRUN_PLURAL as FLOWRUNS
from kflow.resources import GROUP, VERSION

CONFLICT = 409
NOT_FOUND = 404
GONE = 410

TRANSIENT_ERRORS = TRANSPORT_ERRORS
"""Connection-level failures: the API server may be restarting; retrying is right."""

T = TypeVar("T")


def is_transient(error: Exception) -> bool:
    """A failure worth retrying: the connection, an overloaded or restarting API server."""
    if isinstance(error, ApiError):
        return error.status == 429 or error.status >= 500
    return isinstance(error, TRANSIENT_ERRORS)


def short_error(error: Exception) -> str:
    """One line for a log."""
    if isinstance(error, ApiError):
        return f"{error.status} {error.reason}"
    reason = getattr(error, "reason", None)
    return f"{type(error).__name__}: {reason or error}"[:300]


def retrying(call: Callable[[], T], timeout: float = 30.0) -> T:
    """`call()`, retried with backoff on transient failures until `timeout` has passed."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        try:
            return call()
        except Exception as error:
            if not is_transient(error) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def collection_path(namespace: str, plural: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"


class FlowRunApi:
    def __init__(self, rest: KubeRestClient, namespace: str, name: str) -> None:
        self.namespace = namespace
        self.name = name
        self.rest = rest
        self._path = f"{collection_path(namespace, FLOWRUNS)}/{name}"

    def get(self, timeout: float | None = None) -> dict[str, Any]:
        return self.rest.get(self._path, timeout=timeout)

    def connect_ahead(self) -> None:
        """Connect the calling thread to the API server before its first call."""
        self.rest.connect_ahead()

    def sibling(self, name: str) -> FlowRunApi:
        """Calls on another FlowRun of the same namespace, sharing this client."""
        return FlowRunApi(self.rest, self.namespace, name)

    def name_of(self, name_or_uid: str) -> str | None:
        """The name of the FlowRun in this namespace with that name or UID, if any."""
        try:
            self.sibling(name_or_uid).get()
            return name_or_uid
        except ApiError as error:
            if error.status != NOT_FOUND:
                raise
        listed = self.rest.get(collection_path(self.namespace, FLOWRUNS))
        for item in listed.get("items") or []:
            if item["metadata"].get("uid") == name_or_uid:
                return str(item["metadata"]["name"])
        return None

    def get_deployment(self, name: str) -> dict[str, Any] | None:
        try:
            return self.rest.get(f"{collection_path(self.namespace, DEPLOYMENTS)}/{name}")
        except ApiError as error:
            if error.status == NOT_FOUND:
                return None
            raise

    def patch_status(self, patch: dict[str, Any], resource_version: str) -> dict[str, Any]:
        """Merge `patch` into `.status` only if the object is still at `resource_version`."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": patch}
        return self.rest.merge_patch(f"{self._path}/status", body)

    def patch_spec(self, patch: dict[str, Any]) -> dict[str, Any]:
        return self.rest.merge_patch(self._path, {"spec": patch})

    def watch(
        self, resource_version: str, timeout_seconds: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events on this one object from `resource_version` on, ending after the timeout.

        Raises ApiError(410) when that version is too old; the caller re-reads and starts
        again from the fresh object.
        """
        query = {
            "fieldSelector": f"metadata.name={self.name}",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
        }
        return self.rest.watch(collection_path(self.namespace, FLOWRUNS), query, timeout_seconds)
