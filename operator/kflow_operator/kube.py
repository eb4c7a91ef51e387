"""The operator's synchronous Kubernetes API calls, made from worker threads.

Kopf talks to the API on the event loop by itself; everything the operator adds (status writes
with a resourceVersion precondition, Deployment reads, the peering object) goes through here,
one API client per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, cast

from kflow.cluster.kube import new_api_client
from kflow.resources import DEPLOYMENT_PLURAL, FLOWRUN_PLURAL, GROUP, VERSION
from kubernetes.client import ApiClient, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

Body = dict[str, Any]


class Conflict(Exception):
    """The object changed since it was read (HTTP 409): re-read and decide again."""


class KubeApi:
    def __init__(self) -> None:
        self._local = threading.local()

    def _objects(self) -> CustomObjectsApi:
        api = getattr(self._local, "objects", None)
        if api is None:
            client: ApiClient = new_api_client()
            api = CustomObjectsApi(client)
            self._local.objects = api
        return cast(CustomObjectsApi, api)

    def get_flowrun(self, namespace: str, name: str) -> Body | None:
        return self._get(namespace, FLOWRUN_PLURAL, name)

    def get_deployment(self, namespace: str, name: str) -> Body | None:
        return self._get(namespace, DEPLOYMENT_PLURAL, name)

    def _get(self, namespace: str, plural: str, name: str) -> Body | None:
        try:
            body = self._objects().get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return cast(Body, body)

    def patch_flowrun_status(
        self, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> Body:
        """Merge-patch status only if the object is still at `resource_version`."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": dict(status)}
        try:
            result = self._objects().patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, FLOWRUN_PLURAL, name, body
            )
        except ApiException as error:
            if error.status == 409:
                raise Conflict(f"FlowRun {namespace}/{name} changed since it was read") from error
            raise
        return cast(Body, result)

    def ensure_peering(self, name: str, namespace: str | None) -> None:
        """Create Kopf's peering object (cluster-wide or in `namespace`) if it is missing."""
        api = self._objects()
        manifest: Body = {"apiVersion": "kopf.dev/v1", "metadata": {"name": name}}
        try:
            if namespace is None:
                manifest["kind"] = "ClusterKopfPeering"
                api.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", manifest)
            else:
                manifest["kind"] = "KopfPeering"
                api.create_namespaced_custom_object(
                    "kopf.dev", "v1", namespace, "kopfpeerings", manifest
                )
        except ApiException as error:
            if error.status != 409:
                raise

    def peering_identities(self, name: str, namespace: str | None) -> list[str]:
        """The replicas listed in a peering object (its status keys)."""
        try:
            if namespace is None:
                body = self._objects().get_cluster_custom_object(
                    "kopf.dev", "v1", "clusterkopfpeerings", name
                )
            else:
                body = self._objects().get_namespaced_custom_object(
                    "kopf.dev", "v1", namespace, "kopfpeerings", name
                )
        except ApiException as error:
            if error.status == 404:
                return []
            raise
        status: dict[str, Any] = cast(Body, body).get("status") or {}
        return list(status)

    def remove_peers(self, name: str, namespace: str | None, identities: list[str]) -> None:
        if not identities:
            return
        patch = {"status": dict.fromkeys(identities)}
        if namespace is None:
            self._objects().patch_cluster_custom_object(
                "kopf.dev", "v1", "clusterkopfpeerings", name, patch
            )
        else:
            self._objects().patch_namespaced_custom_object(
                "kopf.dev", "v1", namespace, "kopfpeerings", name, patch
            )
