"""What notifications read: the Secrets they name (never any other) and work pools.

A Secret is read when a delivery is attempted, never cached: its values live only as long as
the attempt, and a changed URL or password takes effect at the next one. Only a Secret labelled
NOTIFICATION_SECRET_LABEL=true is used: whoever may write a Deployment could otherwise have the
operator log in with any Secret's username and password to an SMTP server of their choosing.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import cast

from kflow.resources import GROUP, VERSION, WORKPOOL_PLURAL
from kubernetes import client
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.clients import ClientFactory
from kflow_operator.kubeapi.errors import FORBIDDEN, NOT_FOUND, unless_missing
from kflow_operator.notifications.errors import SecretUnreadable

NOTIFICATION_SECRET_LABEL = f"{GROUP}/notifications"


class NotificationReads:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    def secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The Secret's data, decoded; None when it does not exist."""
        try:
            # Looked up here, not imported: the kubernetes client loads an API class and its
            # ~250 pydantic models on first use, ~100 MiB an operator that never reads a
            # Secret (nor runs Jobs) need not hold.
            found = client.CoreV1Api(self._clients()).read_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status == NOT_FOUND:
                return None
            if error.status == FORBIDDEN:
                raise SecretUnreadable(
                    f"the operator may not read Secret {namespace}/{name}: grant it `get` on "
                    "Secrets in this namespace (the chart does with notifications.enabled)"
                ) from None
            raise SecretUnreadable(
                f"reading Secret {namespace}/{name} failed: HTTP {error.status} {error.reason}"
            ) from None
        labels = (found.metadata.labels if found.metadata else None) or {}
        if labels.get(NOTIFICATION_SECRET_LABEL) != "true":
            raise SecretUnreadable(
                f"Secret {namespace}/{name} is not marked for kflow notifications: label it with "
                f"`kubectl label secret -n {namespace} {name} {NOTIFICATION_SECRET_LABEL}=true`"
            )
        return {
            key: base64.b64decode(value).decode("utf-8", "replace")
            for key, value in (found.data or {}).items()
        }

    def workpool(self, namespace: str, name: str) -> Body | None:
        api = CustomObjectsApi(self._clients())
        return cast(
            Body | None,
            unless_missing(
                lambda: api.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, WORKPOOL_PLURAL, name
                )
            ),
        )
