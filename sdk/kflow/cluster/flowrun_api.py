"""Calls on one FlowRun object: read it, patch its status conditionally, watch it.

Objects are plain dicts exactly as the API returns them; the interpretation lives in the pure
modules. Status patches carry `metadata.resourceVersion`, which makes the API server refuse
them with 409 when someone wrote in between, so nobody's write is silently lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import urllib3
from kubernetes import client, watch

from kflow.cluster.kube import DEPLOYMENTS, FLOWRUNS, GROUP, VERSION

CONFLICT = 409
NOT_FOUND = 404
GONE = 410

TRANSIENT_ERRORS = (OSError, urllib3.exceptions.HTTPError)
"""Connection-level failures: the API server may be restarting; retrying is right."""

T = TypeVar("T")


def is_transient(error: Exception) -> bool:
    """A failure worth retrying: the connection, an overloaded or restarting API server."""
    if isinstance(error, client.ApiException):
        return error.status is None or error.status == 429 or error.status >= 500
    return isinstance(error, TRANSIENT_ERRORS)


def short_error(error: Exception) -> str:
    """One line for a log: urllib3's retry errors repeat the whole URL and pool state."""
    if isinstance(error, client.ApiException):
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


class FlowRunApi:
    def __init__(self, api_client: client.ApiClient, namespace: str, name: str) -> None:
        self.namespace = namespace
        self.name = name
        self._objects = client.CustomObjectsApi(api_client)

    def get(self, timeout: float | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {} if timeout is None else {"_request_timeout": timeout}
        return cast(
            dict[str, Any],
            self._objects.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, FLOWRUNS, self.name, **extra
            ),
        )

    def sibling(self, name: str) -> FlowRunApi:
        """Calls on another FlowRun of the same namespace, sharing this client."""
        other = FlowRunApi.__new__(FlowRunApi)
        other.namespace, other.name, other._objects = self.namespace, name, self._objects
        return other

    def name_of(self, name_or_uid: str) -> str | None:
        """The name of the FlowRun in this namespace with that name or UID, if any."""
        try:
            self.sibling(name_or_uid).get()
            return name_or_uid
        except client.ApiException as error:
            if error.status != NOT_FOUND:
                raise
        listed = cast(
            dict[str, Any],
            self._objects.list_namespaced_custom_object(GROUP, VERSION, self.namespace, FLOWRUNS),
        )
        for item in listed.get("items") or []:
            if item["metadata"].get("uid") == name_or_uid:
                return str(item["metadata"]["name"])
        return None

    def get_deployment(self, name: str) -> dict[str, Any] | None:
        try:
            return cast(
                dict[str, Any],
                self._objects.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, DEPLOYMENTS, name
                ),
            )
        except client.ApiException as error:
            if error.status == NOT_FOUND:
                return None
            raise

    def patch_status(self, patch: dict[str, Any], resource_version: str) -> dict[str, Any]:
        """Merge `patch` into `.status` only if the object is still at `resource_version`."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": patch}
        return cast(
            dict[str, Any],
            self._objects.patch_namespaced_custom_object_status(
                GROUP, VERSION, self.namespace, FLOWRUNS, self.name, body
            ),
        )

    def patch_spec(self, patch: dict[str, Any]) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self._objects.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, FLOWRUNS, self.name, {"spec": patch}
            ),
        )

    def watch(
        self, resource_version: str, timeout_seconds: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events on this one object from `resource_version` on, ending after the timeout.

        Raises ApiException(410) when that version is too old; the caller re-reads and
        starts again from the fresh object.
        """
        watcher = watch.Watch()  # type: ignore[no-untyped-call]
        stream = watcher.stream(  # type: ignore[no-untyped-call]
            self._objects.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            FLOWRUNS,
            field_selector=f"metadata.name={self.name}",
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
        )
        try:
            for event in stream:
                yield str(event["type"]), cast(dict[str, Any], event["object"])
        finally:
            watcher.stop()  # type: ignore[no-untyped-call]
