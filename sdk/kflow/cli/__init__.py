"""The `kflow` command line.

Adding a command is one line in `COMMANDS`: its name, its one-line help, and where its
`register(subparsers)` function lives. Only the module of the command being run is imported
(none at all for `kflow --help`), so a command may import heavy libraries without slowing the
others; a registration module should still keep its own top-level imports light and leave
heavy ones (kubernetes, docker) to its handlers, since `kflow COMMAND --help` imports it.

A registered parser sets `handler` (via `set_defaults`) to a function taking the parsed
`argparse.Namespace` and returning the exit status, or to a "module:function" string that is
imported only when that handler runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from kflow.exceptions import KflowException

Handler = Callable[[argparse.Namespace], int]


class Command(NamedTuple):
    name: str
    help: str
    #: "module:function"; the function is called with the top-level subparsers action.
    register: str


COMMANDS: tuple[Command, ...] = (
    Command(
        "flow-run",
        "list and inspect flow runs (local history; --local forces it)",
        "kflow.cli.local_runs:register_flow_run",
    ),
    Command(
        "deployment",
        "list Deployments in the cluster and start runs of them",
        "kflow.cli.cluster_runs:register_deployment",
    ),
    Command(
        "execute",
        "run the FlowRun named by KFLOW_FLOW_RUN_NAMESPACE/NAME (infrastructure entry command)",
        "kflow.cli.execute:register",
    ),
    Command(
        "work-pool",
        "create, list, inspect, pause and limit work pools in the cluster",
        "kflow.cli.work_pools:register",
    ),
    Command("deploy", "create or update Deployments from kflow.yaml", "kflow.cli.deploy:register"),
    Command("history", "reset the local run history", "kflow.cli.history:register"),
    Command(
        "worker",
        "serve work pools' runs from this machine (kflow worker start --pool NAME)",
        "kflow.cli.worker:register",
    ),
    Command(
        "dashboard",
        "serve a web dashboard of the cluster's runs and Deployments on 127.0.0.1",
        "kflow.cli.dashboard:register",
    ),
)


def load(reference: str) -> Any:
    """Import "package.module:attribute" and return the attribute."""
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for `argv`: fully built for the command `argv` names, stubs for the rest."""
    parser = argparse.ArgumentParser(
        prog="kflow",
        description="Prefect-style flows, run locally or natively on Kubernetes.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print kflow's version and exit")
    subparsers = parser.add_subparsers(dest="command", required=True)
    selected = next((arg for arg in argv if not arg.startswith("-")), None)
    for command in COMMANDS:
        if command.name == selected:
            load(command.register)(subparsers)
        else:
            subparsers.add_parser(command.name, help=command.help)
    name_choices(subparsers)
    return parser


class _VersionAction(argparse.Action):
    """`--version`, with the version looked up only when asked for (not on every command)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("kflow")
        except PackageNotFoundError:
            found = "unknown (not installed as a package)"
        print(f"kflow {found}")
        parser.exit()


def name_choices(subparsers: Any) -> None:
    """Make "required: {a,b}" the error for a missing subcommand (argparse says its dest)."""
    subparsers.metavar = "{" + ",".join(subparsers.choices) + "}"


def run_handler(handler: Handler | str, args: argparse.Namespace) -> int:
    """Call a handler given as a function or as a lazily imported "module:function"."""
    function: Handler = load(handler) if isinstance(handler, str) else handler
    return function(args)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(arguments).parse_args(arguments)
    handler: Handler | str | None = getattr(args, "handler", None)
    if handler is None:
        raise SystemExit(f"kflow {args.command}: this command has no handler registered")
    try:
        return run_handler(handler, args)
    except KflowException as exc:
        # kflow's own errors say what was wrong and what to do: one line, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `kflow flow-run ls | head`: the reader left; that is not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
