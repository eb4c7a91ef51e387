"""`kflow worker start --pool NAME`: the original README's "start a worker for a pool" — this
machine serves the pool's runs (e.g. `type: process` runs on a developer's laptop) until Ctrl-C.

A worker IS the kflow operator restricted to the pool (`--work-pool NAME`), in the foreground.
The SDK never imports the operator (an import-linter contract), so this command replaces its
own process with `python -m kflow_operator` (exec): one process, which receives Ctrl-C and
SIGTERM itself and leaves cleanly — its entry removed from the pool's status.workers. Its
peering follows the operator's rule (one peering per set of pools served), so a worker never
becomes the standby of an operator serving other pools.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from kflow.exceptions import KflowException
from kflow.resources.workpool import POOL_NAME_PATTERN

OPERATOR_MODULE = "kflow_operator"


class WorkerError(KflowException):
    """`kflow worker start` cannot start as asked."""


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("worker", help="serve work pools' runs from this machine")
    commands = group.add_subparsers(dest="worker_command", required=True)
    start = commands.add_parser(
        "start",
        help="serve a work pool's runs in the foreground (Ctrl-C stops)",
        description="Run the kflow operator in the foreground for the named work pool(s): it "
        "launches their runs here and keeps a heartbeat in each pool's status.workers until "
        "stopped (Ctrl-C or SIGTERM). Operator flags go after `--`, e.g. "
        "`kflow worker start --pool laptop -- --launchers process`.",
    )
    start.add_argument(
        "--pool",
        action="append",
        required=True,
        metavar="NAME",
        help="the work pool to serve (repeatable)",
    )
    start.add_argument(
        "-n",
        "--namespace",
        help="the pools' namespace (default: the kube context's, else 'default')",
    )
    start.add_argument(
        "operator_args",
        nargs=argparse.REMAINDER,
        metavar="-- OPERATOR-FLAGS",
        help="passed to the operator as they are (see kflow-operator --help)",
    )
    start.set_defaults(handler=start_worker)


def operator_command(pools: Sequence[str], namespace: str, extra: Sequence[str]) -> list[str]:
    """The operator's command line for a worker of `pools` in `namespace`."""
    for pool in pools:
        if not re.fullmatch(POOL_NAME_PATTERN, pool) or len(pool) > 63:
            raise WorkerError(
                f"--pool {pool!r} is not a work pool name: lower-case letters, digits and '-', "
                "starting and ending with a letter or digit, at most 63 characters"
            )
    flags = list(extra[1:] if extra[:1] == ["--"] else extra)
    if any(flag in ("-A", "--all-namespaces", "--work-pool") for flag in flags):
        raise WorkerError(
            "a worker serves the --pool(s) of one --namespace; "
            "drop -A/--all-namespaces/--work-pool from the operator flags"
        )
    command = [sys.executable, "-m", OPERATOR_MODULE, "--namespace", namespace]
    for pool in dict.fromkeys(pools):
        command += ["--work-pool", pool]
    return command + flags


def missing_pools(namespace: str, pools: Sequence[str]) -> list[str]:
    """The pools not found in `namespace`; none when the API cannot tell (the operator then
    reports what is wrong with the connection itself). No configuration at all stops here."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from kflow.cluster.kubernetes_client import (
        GROUP,
        VERSION,
        KubeConfigError,
        new_api_client,
    )
    from kflow.resources.workpool import WORKPOOL_PLURAL

    try:
        api = client.CustomObjectsApi(new_api_client())
    except KubeConfigError as error:
        raise WorkerError(str(error)) from error
    missing = []
    for pool in pools:
        try:
            api.get_namespaced_custom_object(GROUP, VERSION, namespace, WORKPOOL_PLURAL, pool)
        except ApiException as error:
            if error.status == 404:
                missing.append(pool)
        except OSError:
            return []
    return missing


def start_worker(args: argparse.Namespace) -> int:
    if importlib.util.find_spec(OPERATOR_MODULE) is None:
        raise WorkerError(
            f"the kflow operator ({OPERATOR_MODULE}) is not installed in this Python "
            f"({sys.executable}); install kflow with its operator in this environment"
        )
    namespace = args.namespace
    if not namespace:
        from kflow.cluster.kubernetes_client import default_namespace

        namespace = default_namespace()
    command = operator_command(args.pool, namespace, args.operator_args or [])
    pools = list(dict.fromkeys(args.pool))
    missing = missing_pools(namespace, pools)
    print(
        f"kflow worker: serving work pool {', '.join(pools)} in namespace {namespace} "
        "(Ctrl-C stops)",
        flush=True,
    )
    for pool in missing:
        print(
            f"kflow worker: work pool {pool} does not exist in namespace {namespace}; its "
            f"runs are served once it is created (kflow work-pool create {pool} --type ...)",
            file=sys.stderr,
            flush=True,
        )
    sys.stderr.flush()
    os.execv(command[0], command)
    return 0  # not reached: execv replaces this process
