"""The process launcher's part of the operator's command line, and the launcher it asks for."""

from __future__ import annotations

import argparse
from pathlib import Path

from kflow_operator.launchers.process import ProcessLauncher
from kflow_operator.launchers.storage_secrets import SecretEnvReader


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("process launcher (infrastructure type process)")
    group.add_argument(
        "--process-fork-server",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start `kflow execute` runs by forking a warm interpreter that has imported kflow "
        "(never user code): RUNNING in milliseconds instead of about a second; runs naming "
        "another Python or their own command are exec'd either way. Off: every run is exec'd "
        "(default: on)",
    )


def from_arguments(
    args: argparse.Namespace, log_dir: Path, read_secret_env: SecretEnvReader | None = None
) -> ProcessLauncher:
    return ProcessLauncher(
        log_dir, read_secret_env=read_secret_env, fork_server=args.process_fork_server
    )
