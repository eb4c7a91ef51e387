"""The Docker launcher's part of the operator's command line, and the launcher it asks for."""

from __future__ import annotations

import argparse
import logging
from datetime import timedelta
from pathlib import Path

from kflow.cluster.discovery import in_cluster, kubeconfig_paths

from kflow_operator.kubeapi.clients import ClientFactory, ThreadClients
from kflow_operator.kubeapi.cluster_identity import cluster_identity
from kflow_operator.launchers.base import FlowRunReader
from kflow_operator.launchers.docker.launcher import DockerLauncher
from kflow_operator.launchers.docker.options import DockerLauncherOptions, RemovalPolicy
from kflow_operator.launchers.flow_credentials import DEFAULT_LIFETIME

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("docker launcher (infrastructure type docker)")
    group.add_argument(
        "--docker",
        action="store_true",
        help="run `type: docker` infrastructure on a Docker engine (DOCKER_HOST or the system's)",
    )
    group.add_argument("--docker-host", metavar="URL", help="Docker API URL (implies --docker)")
    group.add_argument(
        "--docker-kubeconfig",
        metavar="PATH",
        type=Path,
        help="kubeconfig whose API server address and CA flow containers use (default: the "
        "operator's own; in a pod, its in-cluster config); their credentials are per-run tokens "
        "of the namespace's kflow-flow-run ServiceAccount",
    )
    group.add_argument(
        "--docker-token-seconds",
        metavar="SECONDS",
        type=int,
        default=int(DEFAULT_LIFETIME.total_seconds()),
        help="lifetime of each flow container's token, renewed at half of it while the run "
        "lasts (default %(default)s, at least 600)",
    )
    group.add_argument(
        "--docker-network",
        metavar="NAME",
        default="host",
        help="network for runs that name none (default: host, so the API server address in "
        "the kubeconfig works as on the operator's host)",
    )
    group.add_argument(
        "--docker-remove",
        choices=[p.value for p in RemovalPolicy],
        default=RemovalPolicy.WITH_FLOW_RUN.value,
        help="remove finished containers when their FlowRun is deleted (default; logs stay "
        "readable) or as soon as the run is finished",
    )
    group.add_argument(
        "--docker-sweep-seconds",
        metavar="SECONDS",
        type=float,
        default=DockerLauncherOptions.sweep_seconds,
        help="how often containers whose FlowRun is gone are looked for (default %(default)s)",
    )


def from_arguments(
    args: argparse.Namespace,
    state_dir: Path,
    namespaces: tuple[str, ...],
    read_flow_run: FlowRunReader,
    clients: ClientFactory | None = None,
) -> DockerLauncher | None:
    """The launcher the command line asks for, or None when Docker is not enabled."""
    if not (args.docker or args.docker_host):
        return None
    kubeconfig: Path | None = args.docker_kubeconfig
    if kubeconfig is None and not in_cluster():
        kubeconfig = next((p for p in kubeconfig_paths() if p.is_file()), None)
        if kubeconfig is not None:
            logger.info(
                "flow containers reach the API server of %s, with tokens of kflow-flow-run",
                kubeconfig,
            )
    options = DockerLauncherOptions(
        base_url=args.docker_host,
        kubeconfig=kubeconfig,
        state_dir=state_dir,
        token_lifetime=timedelta(seconds=args.docker_token_seconds),
        manage_service_accounts=not getattr(args, "no_flow_service_accounts", False),
        default_network=args.docker_network or None,
        removal=RemovalPolicy(args.docker_remove),
        sweep_seconds=args.docker_sweep_seconds,
        namespaces=namespaces,
    )
    clients = clients or ThreadClients()
    return DockerLauncher(options, cluster_identity(clients()), read_flow_run, clients)
