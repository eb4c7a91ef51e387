"""Which Kubernetes cluster this is, whatever address it is reached at.

Launchers put it in their scope (the Job launcher) or in their containers' labels (the Docker
launcher), so two clusters sharing one engine, or one cluster reached by two addresses, never
confuse their runs.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kflow_operator.kubeapi.errors import FORBIDDEN, NOT_FOUND, refused_on


def cluster_identity(api_client: client.ApiClient, wait_seconds: float = 30.0) -> str:
    """The UID of the kube-system namespace: what identifies a cluster whatever its address.

    A freshly started API server creates kube-system within seconds: a 404 is waited out
    (bounded); a 403 raises `Refused` at once (the operator lacks `get` on namespaces).
    """
    core: Any = client.CoreV1Api(api_client)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            namespace = refused_on((FORBIDDEN,), lambda: core.read_namespace("kube-system"))
            return str(namespace.metadata.uid)
        except ApiException as error:
            if error.status != NOT_FOUND or time.monotonic() >= deadline:
                raise
        time.sleep(0.5)
