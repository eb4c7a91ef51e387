"""The container created for one attempt of a FlowRun: `docker create`'s arguments (pure).

It runs the flow command (the infrastructure's, else `kflow execute`) with the run's
environment, our labels and the Deployment's volumes (and its resultStorage volume), on the
Deployment's network, else the operator's default one (`host` for a cluster on this machine:
see kube_access.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kflow_operator.infrastructure import LaunchRequest
from kflow_operator.launchers.base import DEFAULT_COMMAND
from kflow_operator.launchers.docker.kube_access import CONTAINER_KUBECONFIG
from kflow_operator.launchers.docker.names import container_labels, container_name


def parse_volume(spec: str) -> tuple[str, str, str]:
    """`source:/target[:ro|rw]` (as the CRD validates it) → (source, target, mode)."""
    parts = spec.split(":")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) > 2 else "rw"
    return source, target, mode


def container_spec(
    request: LaunchRequest,
    cluster: str,
    *,
    extra_env: Mapping[str, str],
    default_network: str | None,
    kubeconfig: bool,
    secrets: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of `containers.create` for this attempt; `kubeconfig`: the run's
    credential files will be copied in, so KUBECONFIG points at them (unless the run sets it);
    `secrets`: the values of the request's secret_env (resultStorage credentials)."""
    infrastructure = request.infrastructure
    options = infrastructure.docker
    env = {**extra_env, **request.env, **(secrets or {})}
    volumes = [
        f"{s}:{t}:{m}" for s, t, m in map(parse_volume, options.volumes or [] if options else [])
    ]
    storage = infrastructure.result_storage
    if storage is not None and storage.volume is not None:
        volume = storage.volume
        volumes.append(f"{volume.host_path or volume.mount_path}:{volume.mount_path}:rw")
    if kubeconfig:
        env.setdefault("KUBECONFIG", CONTAINER_KUBECONFIG)
    return {
        "image": infrastructure.image,
        "entrypoint": list(request.command or DEFAULT_COMMAND),
        "command": [],
        "name": container_name(request),
        "environment": env,
        "labels": container_labels(request, cluster),
        "volumes": volumes,
        "network_mode": (options.network if options else None) or default_network,
        "detach": True,
        "stdin_open": False,
        "tty": False,
    }
