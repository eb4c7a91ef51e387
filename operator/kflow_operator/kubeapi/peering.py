"""Kopf's peering objects (cluster-wide or per namespace), which the operator prepares before
Kopf starts: created when missing, and cleared of replicas known to be dead (peers.py)."""

from __future__ import annotations

from typing import Any, cast

from kubernetes.client import CustomObjectsApi

from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.clients import ClientFactory, ThreadClients
from kflow_operator.kubeapi.errors import CONFLICT, none_on, unless_missing

KOPF_GROUP = "kopf.dev"
KOPF_VERSION = "v1"


class Peering:
    """The peering object `name`: cluster-wide when `namespace` is None."""

    def __init__(
        self, name: str, namespace: str | None, clients: ClientFactory | None = None
    ) -> None:
        self.name = name
        self.namespace = namespace
        self._clients = clients or ThreadClients()

    def _api(self) -> CustomObjectsApi:
        return CustomObjectsApi(self._clients())

    def ensure(self) -> None:
        """Create the peering object if it is missing."""
        api = self._api()
        manifest: Body = {"apiVersion": "kopf.dev/v1", "metadata": {"name": self.name}}
        if self.namespace is None:
            manifest["kind"] = "ClusterKopfPeering"
            none_on(
                (CONFLICT,),
                lambda: api.create_cluster_custom_object(
                    KOPF_GROUP, KOPF_VERSION, "clusterkopfpeerings", manifest
                ),
            )
        else:
            manifest["kind"] = "KopfPeering"
            namespace = self.namespace
            none_on(
                (CONFLICT,),
                lambda: api.create_namespaced_custom_object(
                    KOPF_GROUP, KOPF_VERSION, namespace, "kopfpeerings", manifest
                ),
            )

    def identities(self) -> list[str]:
        """The replicas listed in the peering object (its status keys); none when it is missing."""
        api = self._api()
        namespace = self.namespace
        if namespace is None:
            body = unless_missing(
                lambda: api.get_cluster_custom_object(
                    KOPF_GROUP, KOPF_VERSION, "clusterkopfpeerings", self.name
                )
            )
        else:
            body = unless_missing(
                lambda: api.get_namespaced_custom_object(
                    KOPF_GROUP, KOPF_VERSION, namespace, "kopfpeerings", self.name
                )
            )
        if body is None:
            return []
        status: dict[str, Any] = cast(Body, body).get("status") or {}
        return list(status)

    def remove(self, identities: list[str]) -> None:
        if not identities:
            return
        patch = {"status": dict.fromkeys(identities)}
        if self.namespace is None:
            self._api().patch_cluster_custom_object(
                KOPF_GROUP, KOPF_VERSION, "clusterkopfpeerings", self.name, patch
            )
        else:
            self._api().patch_namespaced_custom_object(
                KOPF_GROUP, KOPF_VERSION, self.namespace, "kopfpeerings", self.name, patch
            )
