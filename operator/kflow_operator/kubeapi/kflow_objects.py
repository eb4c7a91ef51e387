"""FlowRuns, Deployments and WorkPools on the API server: kflow's own objects, as JSON.

Calls block; the operator makes them from worker threads, never on its event loop. Writes of a
run's status carry the resourceVersion the decision was made on, and deletions too, so a run
that changed meanwhile is never written over nor deleted as what it no longer is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from kflow.resources import DEPLOYMENT_PLURAL, FLOWRUN_PLURAL, GROUP, VERSION, WORKPOOL_PLURAL
from kubernetes.client import CustomObjectsApi, V1DeleteOptions, V1Preconditions

from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.clients import ClientFactory, ThreadClients
from kflow_operator.kubeapi.errors import CONFLICT, none_on, unless_missing, unless_moved
from kflow_operator.kubeapi.list_watch import Lister


class KflowObjects:
    def __init__(self, clients: ClientFactory | None = None) -> None:
        self._clients = clients or ThreadClients()

    def _api(self) -> CustomObjectsApi:
        return CustomObjectsApi(self._clients())

    # --- reads ----------------------------------------------------------------------------

    def get_flowrun(self, namespace: str, name: str) -> Body | None:
        return self._get(namespace, FLOWRUN_PLURAL, name)

    def get_deployment(self, namespace: str, name: str) -> Body | None:
        return self._get(namespace, DEPLOYMENT_PLURAL, name)

    def get_workpool(self, namespace: str, name: str) -> Body | None:
        return self._get(namespace, WORKPOOL_PLURAL, name)

    def _get(self, namespace: str, plural: str, name: str) -> Body | None:
        api = self._api()
        return cast(
            Body | None,
            unless_missing(
                lambda: api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
            ),
        )

    def list_flowruns(self, namespace: str) -> list[Body]:
        result = self._api().list_namespaced_custom_object(
            GROUP, VERSION, namespace, FLOWRUN_PLURAL
        )
        return cast(list[Body], cast(Body, result).get("items") or [])

    def lister(self, plural: str, namespace: str | None) -> Lister:
        """The list call of `plural` in `namespace` (None: all), for a ListWatch; it uses the
        client of whichever thread calls it."""

        def list_objects(**kwargs: Any) -> Any:
            api = self._api()
            if namespace is None:
                return api.list_cluster_custom_object(GROUP, VERSION, plural, **kwargs)
            return api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural, **kwargs)

        return list_objects

    # --- writes ---------------------------------------------------------------------------

    def create_flowrun(self, namespace: str, body: Body) -> Body | None:
        """The created run; None when its name is taken (another pass made it)."""
        api = self._api()
        return cast(
            Body | None,
            none_on(
                (CONFLICT,),
                lambda: api.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, FLOWRUN_PLURAL, body
                ),
            ),
        )

    def delete_flowrun(self, namespace: str, name: str, resource_version: str | None) -> bool:
        """Delete the run if it is still at `resource_version`; False when it is gone or moved."""
        options = V1DeleteOptions(
            propagation_policy="Background",
            preconditions=V1Preconditions(resource_version=resource_version),
        )
        api = self._api()

        def delete() -> bool:
            api.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, FLOWRUN_PLURAL, name, body=options
            )
            return True

        return unless_moved(delete) is not None

    def patch_flowrun_status(
        self, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> Body | None:
        """Merge-patch a run's status if it is still at `resource_version`: the run as written,
        or None when it is gone or changed since it was read (re-read and decide again)."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": dict(status)}
        api = self._api()
        return cast(
            Body | None,
            unless_moved(
                lambda: api.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, FLOWRUN_PLURAL, name, body
                )
            ),
        )

    def set_flowrun_finalizers(
        self, namespace: str, name: str, finalizers: list[str], resource_version: str
    ) -> Body | None:
        """Replace a run's finalizers if it is still at `resource_version` (so no one else's
        finalizer is lost): the run as written, or None when it is gone or changed since."""
        meta = {"resourceVersion": resource_version, "finalizers": finalizers or None}
        api = self._api()
        return cast(
            Body | None,
            unless_moved(
                lambda: api.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, FLOWRUN_PLURAL, name, {"metadata": meta}
                )
            ),
        )

    def patch_flowrun(self, namespace: str, name: str, patch: Mapping[str, Any]) -> Body | None:
        """Merge-patch a run (spec, metadata); None when it is gone."""
        api = self._api()
        return cast(
            Body | None,
            unless_missing(
                lambda: api.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, FLOWRUN_PLURAL, name, dict(patch)
                )
            ),
        )

    def patch_deployment_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> Body | None:
        """Merge-patch a Deployment's status; None when it is gone."""
        api = self._api()
        return cast(
            Body | None,
            unless_missing(
                lambda: api.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, DEPLOYMENT_PLURAL, name, {"status": dict(status)}
                )
            ),
        )

    def patch_workpool_status(
        self, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> Body | None:
        """Merge-patch a WorkPool's status if it is still at `resource_version` (status.workers
        is written whole, so another worker's entry must not be lost): the pool as written, or
        None when it is gone or changed since it was read."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": dict(status)}
        api = self._api()
        return cast(
            Body | None,
            unless_moved(
                lambda: api.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, WORKPOOL_PLURAL, name, body
                )
            ),
        )
