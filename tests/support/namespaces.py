"""Removing a namespace the kflow objects of which may still carry finalizers: the operator
that would remove them is usually stopped by then, and the namespace would hang Terminating."""

from __future__ import annotations

import contextlib
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

GROUP, VERSION = "kflow.dev", "v1alpha1"


def drop_finalizers(objects: client.CustomObjectsApi, namespace: str, plural: str) -> None:
    """Clear the finalizers of every object of `plural` (flowruns, deployments) in `namespace`;
    a patch that fails, e.g. on an object already gone, is passed over."""
    listed: Any = objects.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
    for item in listed["items"]:
        if item["metadata"].get("finalizers"):
            with contextlib.suppress(ApiException):
                objects.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    plural,
                    item["metadata"]["name"],
                    {"metadata": {"finalizers": None}},
                )
