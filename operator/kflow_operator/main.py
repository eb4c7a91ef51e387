"""`kflow-operator`: run the kflow operator against the current kube context (or in-cluster).

Several replicas may run: Kopf peering (object `kflow`, Kopf's own peering CRDs from crds/)
lets only the one with the highest priority act; the others wait. Each replica gets a random
priority unless told otherwise, so two never tie. Operators serving only some work pools
(--work-pool) peer in an object of their own set of pools (settings.peering_name): operators of
different pools are all active, operators of the same pools stand in for each other.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
from collections.abc import Sequence
from typing import Any

import kopf
from kflow.resources import InfrastructureType
from kopf._core.engines.peering import Identity  # not re-exported; a NewType of str

from kflow_operator import events, handlers
from kflow_operator.acting import observe_peering
from kflow_operator.command_line import DEFAULT_LAUNCHERS, LOG_FORMATS, build_parser
from kflow_operator.identifiers import host_scope, is_alive
from kflow_operator.kubeapi.clients import ThreadClients
from kflow_operator.kubeapi.event_poster import EventPoster
from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.kubeapi.notification_reads import NotificationReads
from kflow_operator.kubeapi.peering import Peering
from kflow_operator.launchers import process_flags
from kflow_operator.launchers.base import Launcher
from kflow_operator.launchers.docker import flags as docker_flags
from kflow_operator.launchers.kubernetes_job import flags as job_flags
from kflow_operator.launchers.storage_secrets import StorageSecrets
from kflow_operator.memory import keep_giving_back_free_memory, limit_malloc_arenas
from kflow_operator.metrics import server as metrics_server
from kflow_operator.operator_context import OperatorContext
from kflow_operator.peers import dead_local_peers, own_identity
from kflow_operator.settings import (
    ANNOTATIONS_PREFIX,
    DIFFBASE_KEY,
    FINALIZER,
    PEERING_LIFETIME_SECONDS,
    PEERING_NAME,
    OperatorSettings,
    default_state_dir,
)

logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.launchers = choose_launchers(
            args.launchers,
            docker=args.docker,
            docker_host=args.docker_host,
            no_kubernetes_jobs=args.no_kubernetes_jobs,
        )
    except ValueError as error:
        parser.error(str(error))
    if args.worker_timeout_seconds <= args.worker_heartbeat_seconds:
        parser.error(
            f"--worker-timeout-seconds ({args.worker_timeout_seconds:g}) must exceed "
            f"--worker-heartbeat-seconds ({args.worker_heartbeat_seconds:g}), or every worker "
            "would count as gone between its heartbeats"
        )
    # The launchers' own switches follow the one decision, so they build exactly these.
    args.docker = InfrastructureType.DOCKER in args.launchers
    args.no_kubernetes_jobs = InfrastructureType.KUBERNETES_JOB not in args.launchers
    return args


def choose_launchers(
    requested: frozenset[InfrastructureType] | None,
    *,
    docker: bool,
    docker_host: str | None,
    no_kubernetes_jobs: bool,
) -> frozenset[InfrastructureType]:
    """The launchers to build. --launchers decides alone; without it the defaults, adjusted by
    the launchers' own older switches (--docker/--docker-host, --no-kubernetes-jobs)."""
    if requested is None:
        chosen = set(DEFAULT_LAUNCHERS)
        if docker or docker_host:
            chosen.add(InfrastructureType.DOCKER)
        if no_kubernetes_jobs:
            chosen.discard(InfrastructureType.KUBERNETES_JOB)
        return frozenset(chosen)
    if docker or no_kubernetes_jobs:
        raise ValueError(
            "--launchers already says which launchers run; drop --docker/--no-kubernetes-jobs"
        )
    if docker_host and InfrastructureType.DOCKER not in requested:
        raise ValueError(
            "--docker-host names a Docker engine but --launchers leaves docker out; "
            "add docker to --launchers or drop --docker-host"
        )
    return requested


def configure(
    settings: kopf.OperatorSettings,
    priority: int,
    standalone: bool,
    peering_name: str = PEERING_NAME,
) -> None:
    """Everything Kopf stores on our objects is named under kflow.dev, and peering is set here
    only: kopf.operator() leaves these settings alone when given no peering arguments (given a
    peering name, it would make peering mandatory even for a standalone operator)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATIONS_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATIONS_PREFIX, key=DIFFBASE_KEY
    )
    settings.peering.name = peering_name
    settings.peering.priority = priority
    settings.peering.standalone = standalone
    settings.peering.mandatory = not standalone
    settings.peering.lifetime = PEERING_LIFETIME_SECONDS
    # Handler log lines stay logs; Events are posted explicitly (one per state change).
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60


class _QuietEventHandlers(logging.Filter):
    """Kopf logs every successful handler call; for per-event handlers that is one line per
    watch event of every run. Failures and everything else still get through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and record.getMessage().endswith("succeeded."))


def settings_from(args: argparse.Namespace) -> OperatorSettings:
    return OperatorSettings(
        namespaces=tuple(args.namespace),
        state_dir=args.state_dir or default_state_dir(),
        default_image=args.default_image,
        default_grace_period_seconds=args.default_grace_period,
        start_deadline_seconds=args.start_deadline_seconds,
        work_pools=frozenset(args.work_pool),
        notifications=args.notifications,
        notification_retry_seconds=args.notification_retry,
        dashboard_url=args.dashboard_url,
        worker_heartbeat_seconds=args.worker_heartbeat_seconds,
        worker_timeout_seconds=args.worker_timeout_seconds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    limit_malloc_arenas()
    keep_giving_back_free_memory()
    kopf.configure(
        verbose=args.verbose, log_format=LOG_FORMATS[args.log_format], log_refkey="object"
    )
    if not args.verbose:
        logging.getLogger("kopf.objects").addFilter(_QuietEventHandlers())
    operator_settings = settings_from(args)
    clients = ThreadClients()
    api = KflowObjects(clients)
    poster = EventPoster(clients, own_identity())
    events.install(poster)
    if not args.standalone:
        for namespace in operator_settings.namespaces or (None,):
            peering = Peering(operator_settings.peering_name, namespace, clients)
            if not args.external_peering or operator_settings.peering_name != PEERING_NAME:
                # Creating the chart's own object here would race the chart, which owns it
                # (helm install then fails on "already exists" when this pod starts first);
                # a pool set's object is nobody else's.
                peering.ensure()
            peering.remove(dead_local_peers(peering.identities(), host_scope(), is_alive))
    launchers: dict[str, Launcher] = {}
    if InfrastructureType.PROCESS in args.launchers:
        launchers["process"] = process_flags.from_arguments(
            args, operator_settings.log_dir, read_secret_env=StorageSecrets(clients)
        )
    namespaces = operator_settings.namespaces
    for launcher in (
        job_flags.from_arguments(args, namespaces, api.get_flowrun, clients),
        docker_flags.from_arguments(
            args, operator_settings.state_dir, namespaces, api.get_flowrun, clients
        ),
    ):
        if launcher is not None:
            launchers[launcher.type.value] = launcher
    logger.info("Launchers enabled: %s.", ", ".join(sorted(launchers)) or "none")
    pools = operator_settings.work_pools
    logger.info(
        "Serving work pools: %s; peering object %r.",
        ", ".join(sorted(pools)) if pools else "all (and runs of no pool)",
        operator_settings.peering_name,
    )
    context = OperatorContext(
        settings=operator_settings,
        api=api,
        launchers=launchers,
        notification_reads=NotificationReads(clients),
    )
    handlers.register_all()
    kopf_settings = kopf.OperatorSettings()
    priority = args.priority if args.priority is not None else random.randint(1, 2**31 - 1)
    configure(kopf_settings, priority, args.standalone, operator_settings.peering_name)
    memo: Any = kopf.Memo(context=context)
    try:
        observe_peering(args.standalone, peerings=len(operator_settings.namespaces) or 1)
        if args.metrics_address is not None:
            metrics_server.serve(args.metrics_address, context)
        asyncio.run(
            kopf.operator(
                settings=kopf_settings,
                clusterwide=operator_settings.clusterwide,
                namespaces=list(operator_settings.namespaces),
                liveness_endpoint=args.liveness,
                identity=Identity(own_identity()),
                memo=memo,
            )
        )
    finally:
        context.close()
        poster.close()
    return 0
