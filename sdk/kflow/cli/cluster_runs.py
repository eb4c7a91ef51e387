"""Parsers of the cluster commands: `kflow deployment ls|run` and the cluster side of
`kflow flow-run ls|inspect|cancel|resume|logs`.

Only argparse is imported here; the handlers live in kflow.cluster.commands and are imported
(with the kubernetes client) when a command actually runs. `flow-run` subcommands run against
the cluster when a kube config is found (KUBECONFIG, ~/.kube/config, in-cluster) or `-n` /
`--context` is given, else against the local history; `--local` always uses the local one.
"""

from __future__ import annotations

import argparse
from typing import Any

from kflow.cli import Handler, run_handler
from kflow.cluster.discovery import kube_config_available

_COMMANDS = "kflow.cluster.commands"


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n", "--namespace", help="namespace (default: the kube context's, else 'default')"
    )
    parser.add_argument("--context", help="kube context to use (default: the current one)")


def register_deployment(subparsers: Any) -> None:
    """`kflow deployment ls|run` (Deployments exist only in a cluster)."""
    group = subparsers.add_parser(
        "deployment", help="list Deployments in the cluster and start runs of them"
    )
    commands = group.add_subparsers(dest="deployment_command", required=True)
    ls = commands.add_parser("ls", help="list Deployments")
    add_cluster_options(ls)
    ls.set_defaults(handler=f"{_COMMANDS}:deployment_ls")
    run = commands.add_parser("run", help="create a FlowRun of a Deployment; prints its name")
    run.add_argument("name", help="the Deployment's name")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="a parameter, repeatable; VALUE is JSON when it parses as JSON, else a string",
    )
    add_cluster_options(run)
    run.set_defaults(handler=f"{_COMMANDS}:deployment_run")


def extend_flow_run(commands: Any, parsers: dict[str, argparse.ArgumentParser]) -> None:
    """Add the cluster side to `kflow flow-run` (kflow.cli.local_runs builds the group)."""
    parsers["ls"].add_argument("--deployment", help="only runs of this Deployment (cluster)")
    for name, parser in parsers.items():
        add_cluster_options(parser)
        parser.set_defaults(cluster_handler=_cluster_or_local(f"{_COMMANDS}:flow_run_{name}"))


def _cluster_or_local(reference: str) -> Handler:
    """Run on the cluster when one is configured (or named with -n/--context), else (or with
    --local) hand the command back to the local history (`args.local_handler`) — decided
    before the Kubernetes client, seconds of start-up, is imported."""

    def run(args: argparse.Namespace) -> int:
        named = getattr(args, "namespace", None) or getattr(args, "context", None)
        if getattr(args, "local", False) or (not named and not kube_config_available()):
            return run_handler(args.local_handler, args)
        return run_handler(reference, args)

    return run
