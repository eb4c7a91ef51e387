"""`kflow history reset --local`: start over with an empty local run history.

What the original README's troubleshooting step did ("reset the local database"): the SQLite
file under KFLOW_HOME (with its WAL and shared-memory files) is deleted; results and other
files under KFLOW_HOME stay. It asks first, on stdin; `--yes` skips the question, and with no
answer to read (stdin closed or empty) it refuses, saying so.
"""

from __future__ import annotations

import argparse
from typing import Any

from kflow.cli import name_choices
from kflow.exceptions import KflowException


class ResetRefused(KflowException, RuntimeError):
    """Nobody confirmed the reset."""


def register(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "history",
        help="reset the local run history",
        description="The local run history ($KFLOW_HOME/history.db, KFLOW_HOME defaulting to "
        "~/.kflow).",
    )
    commands = group.add_subparsers(dest="history_command", required=True)
    reset = commands.add_parser(
        "reset", help="delete every run of the local history (asks for confirmation first)"
    )
    reset.add_argument(
        "--local",
        action="store_true",
        required=True,
        help="the local run history of this machine (required: say which history goes)",
    )
    reset.add_argument("-y", "--yes", action="store_true", help="reset without asking")
    reset.set_defaults(handler=history_reset)
    name_choices(commands)


def history_reset(args: argparse.Namespace) -> int:
    from kflow.history.queries import History

    history = History.at()
    path = history.path
    if not path.exists():
        print(f"No local run history at {path}: nothing to reset.")
        return 0
    runs = history.flow_runs()
    running = sum(1 for run in runs if not run.final)
    if not args.yes:
        note = f", {running} of them not ended: what they report next is lost" if running else ""
        prompt = f"Delete the local run history at {path} ({len(runs)} flow runs{note})? [y/N] "
        try:
            answer = input(prompt)
        except EOFError:
            print()  # end the prompt's line
            raise ResetRefused(
                f"not resetting the local run history at {path}: it needs a confirmation and "
                "there is no answer to read (stdin is closed or empty); pass --yes to reset "
                "without asking."
            ) from None
        if answer.strip().lower() not in ("y", "yes"):
            print("Not reset.")
            return 1
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    print(f"Reset the local run history: deleted {path} ({len(runs)} flow runs).")
    return 0
