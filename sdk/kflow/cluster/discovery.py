"""Whether a cluster is configured, decided without importing the Kubernetes client (which
costs seconds of start-up): `kflow flow-run` picks cluster or local history with it."""

from __future__ import annotations

import os
from pathlib import Path

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_cluster() -> bool:
    """True inside a pod that has a service-account token mounted."""
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and (SERVICE_ACCOUNT_DIR / "token").is_file()
    )


def kubeconfig_paths() -> list[Path]:
    """The files kubectl would read: every entry of KUBECONFIG, else ~/.kube/config."""
    explicit = os.environ.get("KUBECONFIG")
    if explicit:
        return [Path(p) for p in explicit.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def kube_config_available() -> bool:
    """Whether a cluster is configured at all (decides cluster vs local for `kflow flow-run`)."""
    return in_cluster() or any(path.is_file() for path in kubeconfig_paths())
