"""The operator's command line: its flags, their help, and the types that check each value
(a wrong value is refused by argparse with a sentence naming the flag and what it expects)."""

from __future__ import annotations

import argparse
import logging
import os
import re
from pathlib import Path

import kopf
from kflow.resources import InfrastructureType
from kflow.resources.deployment import MAX_GRACE_PERIOD_SECONDS
from kflow.resources.workpool import POOL_NAME_PATTERN

from kflow_operator.decisions.start_wait import DEFAULT_START_DEADLINE_SECONDS
from kflow_operator.decisions.supervised_run import DEFAULT_GRACE_SECONDS
from kflow_operator.launchers import process_flags
from kflow_operator.launchers.docker import flags as docker_flags
from kflow_operator.launchers.kubernetes_job import flags as job_flags
from kflow_operator.metrics import server as metrics_server
from kflow_operator.settings import (
    DEFAULT_WORKER_HEARTBEAT_SECONDS,
    DEFAULT_WORKER_TIMEOUT_SECONDS,
)

logger = logging.getLogger(__name__)


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
        "(image not pulled, unschedulable, quota exceeded, an import that never ends, …) "
        "ends CRASHED with the reason, "
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
