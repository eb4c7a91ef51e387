"""Connecting to the Kubernetes API the way `kubectl` and a pod would.

In a pod the service-account token is the only credential there is, so in-cluster config wins
when present; elsewhere KUBECONFIG / ~/.kube/config with an optional context, like kubectl.
"""

from __future__ import annotations

import os

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from kflow.cluster.credentials import KubeConfigError
from kflow.cluster.discovery import (
    SERVICE_ACCOUNT_DIR,
    in_cluster,
    kube_config_available,
    kubeconfig_paths,
)
from kflow.resources import DEPLOYMENT_PLURAL as DEPLOYMENTS
from kflow.resources import FLOWRUN_PLURAL as FLOWRUNS
from kflow.resources import GROUP, VERSION

__all__ = [
    "DEPLOYMENTS",
    "FLOWRUNS",
    "GROUP",
    "VERSION",
    "KubeConfigError",
    "in_cluster",
    "kube_config_available",
    "kubeconfig_paths",
]


def new_api_client(context: str | None = None) -> client.ApiClient:
    """A fresh client; each thread that talks to the API gets its own, so none shares a pool."""
    if context is None and in_cluster():
        configuration = client.Configuration()
        config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
        return client.ApiClient(configuration)
    try:
        api_client: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=_config_files(), context=context
        )
        return api_client
    except ConfigException as error:
        where = os.pathsep.join(str(p) for p in kubeconfig_paths())
        raise KubeConfigError(
            f"no usable Kubernetes configuration ({error}); looked in-cluster and at {where}. "
            "Set KUBECONFIG (the kflow CLI also takes --context)."
        ) from error


def default_namespace(context: str | None = None) -> str:
    """The namespace of the current (or given) kube context, as kubectl would use."""
    if context is None and in_cluster():
        namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
        if namespace_file.is_file():
            return namespace_file.read_text().strip() or "default"
        return "default"
    try:
        contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=_config_files()
        )
    except ConfigException:
        return "default"
    chosen = current
    if context is not None:
        chosen = next((c for c in contexts if c.get("name") == context), None)
    if not chosen:
        return "default"
    namespace = chosen.get("context", {}).get("namespace")
    return str(namespace) if namespace else "default"


def _config_files() -> str:
    """KUBECONFIG as it is now: the library reads it once, when first imported, so a program
    that sets it later (a script, a test) would otherwise get ~/.kube/config."""
    return os.pathsep.join(str(path) for path in kubeconfig_paths())
