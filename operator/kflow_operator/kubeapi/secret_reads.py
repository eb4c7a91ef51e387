"""One Secret, read for a run's launch (launchers/storage_secrets.py says which and why)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kflow_operator.kubeapi.clients import ClientFactory
from kflow_operator.kubeapi.errors import FORBIDDEN, NOT_FOUND


class SecretForbidden(Exception):
    """The operator's account may not read the Secret."""


@dataclass(frozen=True)
class SecretContents:
    labels: Mapping[str, str]
    data: Mapping[str, str]
    """Decoded as UTF-8."""


def read_secret(clients: ClientFactory, namespace: str, name: str) -> SecretContents | None:
    """The Secret's labels and data; None when it does not exist."""
    try:
        found = client.CoreV1Api(clients()).read_namespaced_secret(name, namespace)
    except ApiException as error:
        if error.status == NOT_FOUND:
            return None
        if error.status == FORBIDDEN:
            raise SecretForbidden(f"{namespace}/{name}") from None
        raise
    labels = (found.metadata.labels if found.metadata else None) or {}
    data = {
        key: base64.b64decode(value).decode("utf-8", "replace")
        for key, value in (found.data or {}).items()
    }
    return SecretContents(dict(labels), data)
