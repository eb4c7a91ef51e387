"""Parsers of `kflow work-pool ls|inspect|create|pause|resume|set-concurrency-limit|
clear-concurrency-limit|delete` (Prefect's verbs). Work pools exist only in a cluster; the
handlers (kflow.cluster.workpool_commands) are imported only when a command runs."""

from __future__ import annotations

import argparse
from typing import Any

from kflow.cli.cluster_runs import add_cluster_options
from kflow.cli.output import FORMATS

_HANDLERS = "kflow.cluster.workpool_commands"
POOL_TYPES = ("kubernetes-job", "docker", "process")


def register(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "work-pool",
        help="create, list, inspect, pause and limit work pools in the cluster",
        description="A work pool is where runs execute, configured once: its infrastructure "
        "type and settings, a concurrency limit across its Deployments, a pause switch, and "
        "the operators serving it (workers). See docs/work-pools.md.",
    )
    verbs = group.add_subparsers(dest="work_pool_command", required=True)

    ls = _verb(verbs, "ls", "list the namespace's work pools (WORKERS counts live ones)")
    _add_output(ls)
    inspect = _verb(verbs, "inspect", "show a pool: spec, workers and heartbeats, runs, conditions")
    _add_name(inspect)
    _add_output(inspect)

    create = _verb(verbs, "create", "create a work pool")
    _add_name(create)
    create.add_argument(
        "-t", "--type", choices=POOL_TYPES, help="how the pool's runs execute (required unless -f)"
    )
    create.add_argument(
        "--limit",
        type=non_negative,
        metavar="N",
        help="at most N runs of the pool at once (0 holds them all)",
    )
    create.add_argument("--image", help="image of the pool's kubernetes-job/docker runs")
    create.add_argument("--description", help="a line saying what the pool is for")
    create.add_argument("--paused", action="store_true", help="create it paused")
    create.add_argument(
        "-f",
        "--file",
        metavar="FILE",
        help="YAML with the pool's spec (or a WorkPool manifest): infrastructure, job "
        "settings, …; the flags override it",
    )

    _add_name(_verb(verbs, "pause", "pause a pool: none of its runs start; due ones wait"))
    _add_name(_verb(verbs, "resume", "resume a paused pool"))
    limit = _verb(verbs, "set-concurrency-limit", "at most N runs of the pool at once")
    _add_name(limit)
    limit.add_argument("limit", type=non_negative, metavar="N", help="0 holds every run")
    _add_name(_verb(verbs, "clear-concurrency-limit", "remove a pool's concurrency limit"))
    _add_name(_verb(verbs, "delete", "delete a pool (its runs then wait until it exists again)"))


def non_negative(text: str) -> int:
    """A concurrency limit: a whole number ≥ 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number; give a limit ≥ 0 (0 holds every run)"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{value} is negative; give a limit ≥ 0 (0 holds every run), or use "
            "clear-concurrency-limit for none"
        )
    return value


def _verb(verbs: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = verbs.add_parser(name, help=help_text, description=help_text)
    add_cluster_options(parser)
    handler = name.replace("-", "_")
    parser.set_defaults(handler=f"{_HANDLERS}:work_pool_{handler}")
    return parser


def _add_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the work pool's name")


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=FORMATS, help="print the object(s) as json|yaml")
