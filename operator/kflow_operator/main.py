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
import os
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import kopf
from kflow.resources import InfrastructureType
from kflow.resources.deployment import MAX_GRACE_PERIOD_SECONDS
from kflow.resources.workpool import POOL_NAME_PATTERN
from kopf._core.engines.peering import Identity  # not re-exported; a NewType of str

from kflow_operator import handlers
from kflow_operator.decisions.start_wait import DEFAULT_START_DEADLINE_SECONDS
from kflow_operator.decisions.supervised_run import DEFAULT_GRACE_SECONDS
from kflow_operator.identifiers import host_scope, is_alive
from kflow_operator.kubeapi.clients import ThreadClients
from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.kubeapi.notification_reads import NotificationReads
from kflow_operator.kubeapi.peering import Peering
from kflow_operator.launchers import process_flags
from kflow_operator.launchers.base import Launcher
from kflow_operator.launchers.docker import flags as docker_flags
from kflow_operator.launchers.kubernetes_job import flags as job_flags
from kflow_operator.metrics import server as metrics_server
from kflow_operator.operator_context import OperatorContext
from kflow_operator.peers import dead_local_peers, own_identity
from kflow_operator.settings import (
    ANNOTATIONS_PREFIX,
    DEFAULT_WORKER_HEARTBEAT_SECONDS,
    DEFAULT_WORKER_TIMEOUT_SECONDS,
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kflow-operator",
        description="Runs kflow Deployments and FlowRuns: launches, watches and cancels runs.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="serve only this namespace (repeatable); default: all namespaces",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="serve every namespace (default)"
    )
    parser.add_argument(
        "--work-pool",
        metavar="NAME",
        action="append",
        type=pool_name,
        default=[],
        help="serve only the runs of this work pool (repeatable); default: every pool of the "
        "served namespaces, and runs of no pool",
    )
    parser.add_argument(
        "--worker-heartbeat-seconds",
        metavar="SECONDS",
        type=positive_seconds,
        default=DEFAULT_WORKER_HEARTBEAT_SECONDS,
        help="how often this operator renews its entry in status.workers of each pool it "
        "serves (default %(default)s)",
    )
    parser.add_argument(
        "--worker-timeout-seconds",
        metavar="SECONDS",
        type=positive_seconds,
        default=DEFAULT_WORKER_TIMEOUT_SECONDS,
        help="a worker silent this long is not live; a pool with runs due and no live worker "
        "for this long says so on the pool and its runs (default %(default)s)",
    )
    parser.add_argument(
        "--liveness",
        metavar="URL",
        help="serve a liveness probe, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--metrics-address",
        metavar="HOST:PORT",
        type=metrics_server.parse_address,
        help="serve Prometheus metrics on http://HOST:PORT/metrics (docs/metrics.md), "
        "e.g. 0.0.0.0:8081; default: not served",
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority; the highest-priority replica acts (default: random)",
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="ignore other replicas (no peering); only when exactly one operator runs",
    )
    parser.add_argument(
        "--external-peering",
        action="store_true",
        help="the peering object is created by the installer (the Helm chart does), not by the "
        "operator; until it exists the operator waits",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where run output files are kept (default: $KFLOW_HOME/operator or ~/.kflow/operator)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument(
        "--log-format",
        choices=sorted(LOG_FORMATS),
        default=os.environ.get("KFLOW_LOG_FORMAT", "text"),
        help="text (one line per event) or json (one JSON object per line, with the object's "
        "namespace/name); default: $KFLOW_LOG_FORMAT, else text",
    )
    launching = parser.add_argument_group("launching runs")
    launching.add_argument(
        "--launchers",
        metavar="TYPES",
        type=parse_launcher_types,
        default=None,
        help="comma-separated infrastructure types this operator runs, of "
        f"{', '.join(LAUNCHER_TYPES)}; a run of any other type ends FAILED (NoLauncher). "
        "Default: process,kubernetes-job, plus docker with --docker/--docker-host",
    )
    launching.add_argument(
        "--default-image",
        metavar="IMAGE",
        type=non_empty,
        default=None,
        help="image of docker/kubernetes-job runs whose spec.infrastructure names none "
        "(default: none; such runs end FAILED)",
    )
    launching.add_argument(
        "--default-grace-period",
        metavar="SECONDS",
        type=grace_seconds,
        default=DEFAULT_GRACE_SECONDS,
        help="seconds between the stop request and the kill when a run is cancelled and "
        "neither its FlowRun nor its Deployment sets cancelGracePeriodSeconds "
        "(default %(default)s)",
    )
    launching.add_argument(
        "--start-deadline-seconds",
        metavar="SECONDS",
        type=start_deadline_seconds,
        default=DEFAULT_START_DEADLINE_SECONDS,
        help="a launched run whose pod or container has not started the flow this long "
        "(image not pulled, unschedulable, quota exceeded, …) ends CRASHED with the reason, "
        "and what was created is removed (default %(default)s)",
    )
    process_flags.add_arguments(parser)
    job_flags.add_arguments(parser)
    docker_flags.add_arguments(parser)
    notifying = parser.add_argument_group("notifications (docs/notifications.md)")
    notifying.add_argument(
        "--no-notifications",
        dest="notifications",
        action="store_false",
        help="ignore spec.notifications of Deployments and WorkPools (nothing is sent, no "
        "Secret is read)",
    )
    notifying.add_argument(
        "--notification-retry",
        metavar="SECONDS",
        type=retry_seconds,
        default=DEFAULT_NOTIFICATION_RETRY_SECONDS,
        help="how long after a transition a failing notification is retried, with backoff "
        "(default %(default)s)",
    )
    notifying.add_argument(
        "--dashboard-url",
        metavar="URL",
        type=dashboard_url,
        default=None,
        help="the kflow dashboard's address, e.g. https://kflow.example.com; notifications "
        "then link to the run's page",
    )
    return parser


MAX_START_DEADLINE_SECONDS = 86400
LOG_FORMATS = {"text": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}
LAUNCHER_TYPES = tuple(t.value for t in InfrastructureType)
DEFAULT_LAUNCHERS = frozenset({InfrastructureType.PROCESS, InfrastructureType.KUBERNETES_JOB})
"""Without --launchers: runs in the operator's own environment, and Jobs in its cluster (both
need nothing beyond what an operator has); Docker only when an engine is named."""


def parse_launcher_types(text: str) -> frozenset[InfrastructureType]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LAUNCHER_TYPES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a comma-separated list of {', '.join(LAUNCHER_TYPES)}"
        )
    return frozenset(InfrastructureType(name) for name in names)


def pool_name(text: str) -> str:
    if not re.fullmatch(POOL_NAME_PATTERN, text) or len(text) > 63:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a work pool name (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return text


DEFAULT_NOTIFICATION_RETRY_SECONDS = 3600
MAX_NOTIFICATION_RETRY_SECONDS = 7 * 86400


def retry_seconds(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= MAX_NOTIFICATION_RETRY_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected whole seconds from 0 to {MAX_NOTIFICATION_RETRY_SECONDS}"
        )
    return seconds


def dashboard_url(text: str) -> str:
    if not re.fullmatch(r"https?://[^\s]+", text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected the dashboard's address, http://HOST[:PORT][/PATH] or https://…"
        )
    return text.rstrip("/")


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds above 0, at most 3600")
    return seconds


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def start_deadline_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 1 <= seconds <= MAX_START_DEADLINE_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected seconds from 1 to {MAX_START_DEADLINE_SECONDS}"
        )
    return seconds


def grace_seconds(text: str) -> int:
    """The same bounds as spec.cancelGracePeriodSeconds in the CRDs."""
    try:
        seconds = int(text)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= MAX_GRACE_PERIOD_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected whole seconds from 0 to {MAX_GRACE_PERIOD_SECONDS}"
        )
    return seconds


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
    kopf.configure(
        verbose=args.verbose, log_format=LOG_FORMATS[args.log_format], log_refkey="object"
    )
    if not args.verbose:
        logging.getLogger("kopf.objects").addFilter(_QuietEventHandlers())
    operator_settings = settings_from(args)
    clients = ThreadClients()
    api = KflowObjects(clients)
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
        launchers["process"] = process_flags.from_arguments(args, operator_settings.log_dir)
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
        if args.metrics_address is not None:
            metrics_server.serve(args.metrics_address, context, args.standalone)
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
    return 0
