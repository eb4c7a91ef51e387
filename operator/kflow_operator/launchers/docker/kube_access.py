"""How a flow's container reaches the Kubernetes API, with least privilege.

The flow process uses KUBECONFIG when no in-cluster config exists. Each run gets files of its
own, copied into the container at /var/run/kflow (put_archive: no host path is shared, so an
operator in a pod and a remote engine work alike), holding a kubeconfig with a short-lived token
of its namespace's flow ServiceAccount — the identity a Job's pod runs as, never the operator's —
refreshed by the operator while the run lasts (launchers/flow_credentials.py). The API server's
address and CA come from a kubeconfig the operator is given (`kubeconfig`, default its own) or,
for an operator in a pod, from its in-cluster config. That address must be reachable from the
container: for a cluster on this machine (kind, tests/cluster) set `default_network="host"`, so
the container shares the host's network and `https://127.0.0.1:…`/`192.0.2.2:6443` work as they
do for the operator. A Deployment's own `docker.network` always wins.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from docker.errors import APIError
from kflow.cluster.discovery import in_cluster

from kflow_operator.kubeapi.clients import ClientFactory
from kflow_operator.launchers.base import LaunchError
from kflow_operator.launchers.docker.options import DockerLauncherOptions
from kflow_operator.launchers.flow_account import FlowAccounts
from kflow_operator.launchers.flow_credentials import (
    CONTAINER_DIR,
    KUBECONFIG_FILE,
    FlowCredentials,
    cluster_entry,
    credentials_archive,
    in_cluster_entry,
)

logger = logging.getLogger(__name__)

CONTAINER_KUBECONFIG = f"{CONTAINER_DIR}/{KUBECONFIG_FILE}"


def flatten_kubeconfig(path: Path) -> dict[str, Any]:
    """The kubeconfig with every referenced file (certificates, keys, tokens) inlined, so the
    single file mounted into a container is complete."""
    config: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    base = path.parent

    def inline(section: dict[str, Any], key: str, data_key: str) -> None:
        ref = section.get(key)
        if isinstance(ref, str) and ref:
            target = Path(ref) if Path(ref).is_absolute() else base / ref
            section[data_key] = base64.b64encode(target.read_bytes()).decode()
            del section[key]

    for cluster in config.get("clusters") or []:
        inline(cluster.get("cluster") or {}, "certificate-authority", "certificate-authority-data")
    for user in config.get("users") or []:
        details = user.get("user") or {}
        inline(details, "client-certificate", "client-certificate-data")
        inline(details, "client-key", "client-key-data")
        token_file = details.pop("tokenFile", None)
        if isinstance(token_file, str) and token_file:
            target = Path(token_file) if Path(token_file).is_absolute() else base / token_file
            details["token"] = target.read_text().strip()
    return config


def flow_credentials(
    options: DockerLauncherOptions, clients: ClientFactory
) -> FlowCredentials | None:
    """Who issues the runs' credential files, or None when containers get no Kubernetes access
    (no kubeconfig given and not in a cluster)."""
    source = options.kubeconfig
    if source is not None:
        cluster = cluster_entry(flatten_kubeconfig(source))
    elif in_cluster():
        cluster = in_cluster_entry()
    else:
        logger.warning(
            "no kubeconfig for flow containers and not in a cluster: Docker runs get no "
            "Kubernetes credentials (pass --docker-kubeconfig)"
        )
        return None
    state_dir = options.state_dir or (source.parent if source else Path.cwd())
    return FlowCredentials(
        clients,
        FlowAccounts(clients, manage=options.manage_service_accounts),
        cluster,
        state_dir / "docker" / "runs",
        options.token_lifetime,
    )


def deliver(container: Any, directory: Path) -> None:
    """Copy a run's credential files into its container (created or running)."""
    try:
        container.put_archive(
            str(PurePosixPath(CONTAINER_DIR).parent), credentials_archive(directory)
        )
    except APIError as error:
        raise LaunchError(
            f"cannot copy the flow's Kubernetes credentials into the container at "
            f"{CONTAINER_DIR}: {error.explanation or error}; the image needs a writable "
            f"{PurePosixPath(CONTAINER_DIR).parent}"
        ) from error
