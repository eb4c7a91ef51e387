"""The Job launcher's part of the operator's command line, and the launcher it asks for."""

from __future__ import annotations

import argparse
import logging

from kflow_operator.kubeapi.clients import ClientFactory
from kflow_operator.kubeapi.errors import Refused
from kflow_operator.launchers.base import FlowRunReader
from kflow_operator.launchers.kubernetes_job.launcher import KubernetesJobLauncher
from kflow_operator.launchers.kubernetes_job.options import JobLauncherOptions

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "Kubernetes Job launcher (infrastructure type kubernetes-job)"
    )
    group.add_argument(
        "--no-kubernetes-jobs",
        action="store_true",
        help="do not run `type: kubernetes-job` infrastructure",
    )
    group.add_argument(
        "--job-image-pull-deadline",
        metavar="SECONDS",
        type=float,
        default=JobLauncherOptions.image_pull_deadline_seconds,
        help="a flow pod that cannot pull its image (or create its container) this long "
        "ends its run CRASHED (default %(default)s)",
    )
    group.add_argument(
        "--no-flow-service-accounts",
        action="store_true",
        help="do not create the kflow-flow-run ServiceAccount/Role/RoleBinding per namespace "
        "that Job pods run as and Docker runs get tokens of (install them yourself, or set "
        "serviceAccountName in podTemplatePatch)",
    )


def from_arguments(
    args: argparse.Namespace,
    namespaces: tuple[str, ...],
    read_flow_run: FlowRunReader,
    clients: ClientFactory | None = None,
) -> KubernetesJobLauncher | None:
    if args.no_kubernetes_jobs:
        return None
    options = JobLauncherOptions(
        namespaces=namespaces,
        image_pull_deadline_seconds=args.job_image_pull_deadline,
        manage_service_accounts=not args.no_flow_service_accounts,
    )
    try:
        return KubernetesJobLauncher(options, read_flow_run, clients)
    except Refused as error:  # 403: cluster_identity may not read kube-system
        logger.error(
            "Kubernetes Job launcher disabled: the operator may not read the kube-system "
            "namespace (the cluster's identity): %s; grant `get` on namespaces (the Helm chart "
            "does) to run kubernetes-job infrastructure",
            error.message,
        )
        return None
