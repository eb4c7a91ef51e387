"""The Docker launcher's settings (flags.py fills them from the operator's command line)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from kflow_operator.launchers.flow_credentials import DEFAULT_LIFETIME

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


class RemovalPolicy(enum.StrEnum):
    """When finished containers are removed (the sweeper applies it: observe.py)."""

    WITH_FLOW_RUN = "with-flow-run"
    """Keep a finished container (its logs) until its FlowRun is deleted."""
    ON_FINISH = "on-finish"
    """Remove it as soon as the run is finished with."""


@dataclass(frozen=True)
class DockerLauncherOptions:
    base_url: str | None = None
    """The Docker API URL; default DOCKER_HOST, else the system socket."""
    kubeconfig: Path | None = None
    """Where containers' API server address and CA come from (its current context); None: the
    operator's in-cluster config if it has one, else containers get no Kubernetes access."""
    state_dir: Path | None = None
    """Where the runs' credential directories are written (the operator's state directory)."""
    token_lifetime: timedelta = DEFAULT_LIFETIME
    """How long each flow token is valid; refreshed at half of it while the run lasts."""
    manage_service_accounts: bool = True
    """Create the flow ServiceAccount/Role/RoleBinding per namespace on demand."""
    default_network: str | None = None
    """Network for runs whose infrastructure names none (`host` for a cluster on this host)."""
    removal: RemovalPolicy = RemovalPolicy.WITH_FLOW_RUN
    sweep_seconds: float = 15.0
    namespaces: tuple[str, ...] = ()
    """The namespaces the sweeper looks after; empty means all."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
