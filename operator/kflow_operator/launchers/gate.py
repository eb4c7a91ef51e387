"""The gate in front of every process the process launcher starts.

The gate waits on a pipe given as its standard input (the flow later gets /dev/null). `go`
from the operator (sent once the FlowRun status records this process) → exec CMD, keeping PID
and start time, so the recorded identifier stays true. End of file instead means the operator
died: exec CMD only if the FlowRun status names this very process, else exit without running
anything (the restarted operator launches a fresh attempt).

The waiting half is a few lines of POSIX sh: it is started for every run, often hundreds at the
same instant, and a Python interpreter took ~20 ms of exec and start-up each (seconds of CPU at
a cron minute boundary) where sh takes ~1 ms. Only an orphaned gate execs into this module's
`main`, which needs the Kubernetes client to read the FlowRun.

A child of the fork server (fork_server.py) waits on the same pipe in Python instead of sh, and
an orphaned one execs into the same `main`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from kflow_operator.identifiers import host_scope, own_process_id

RECORD_WAIT_SECONDS = 5.0
"""How long an orphaned gate waits for a status write that its operator may have had in flight."""


def _recorded_here() -> bool:
    """Whether the FlowRun's status names this process as its infrastructure."""
    # Imported here: only a gate orphaned by its operator pays for the Kubernetes client.
    from kflow_operator.kubeapi.kflow_objects import KflowObjects

    api = KflowObjects()
    namespace = os.environ["KFLOW_FLOW_RUN_NAMESPACE"]
    name = os.environ["KFLOW_FLOW_RUN_NAME"]
    me = own_process_id().format()
    deadline = time.monotonic() + RECORD_WAIT_SECONDS
    while True:
        body = api.get_flowrun(namespace, name)
        if body is None:
            raise LookupError(f"FlowRun {namespace}/{name} does not exist")
        status: dict[str, Any] = body.get("status") or {}
        infrastructure: dict[str, Any] = status.get("infrastructure") or {}
        recorded = infrastructure.get("id")
        if recorded is not None:
            return bool(recorded == me and infrastructure.get("scope") == host_scope())
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _say(text: str) -> None:
    print(f"kflow gate: {text}", file=sys.stderr, flush=True)


GATE_MODULE = "kflow_operator.launchers.gate"
SHELL_GATE = f"""\
python="$1"; shift
IFS= read -r word || word=
exec </dev/null
if [ "$word" = go ]; then exec "$@"; fi
exec "$python" -m {GATE_MODULE} "$@"
"""
"""sh -c SHELL_GATE kflow-gate PYTHON CMD ARGS…: `go` → CMD; anything else → the orphan check.
(The pipe is standard input because dash redirects only file descriptors 0-9.)"""


def gate_command(command: list[str], python: str = sys.executable) -> list[str]:
    """The argv that runs `command` behind the gate; the gate's pipe is its standard input."""
    return ["/bin/sh", "-c", SHELL_GATE, "kflow-gate", python, *command]


def main() -> None:
    """An orphaned gate: the operator died before saying `go`."""
    command = sys.argv[1:]
    try:
        recorded = _recorded_here()
    except Exception as error:
        print(
            f"kflow gate: operator gone and FlowRun unreadable ({error}); not running",
            file=sys.stderr,
        )
        sys.exit(0)
    if not recorded:
        print(
            "kflow gate: operator gone before recording this process; not running",
            file=sys.stderr,
        )
        sys.exit(0)
    try:
        os.execvp(command[0], command)
    except OSError as error:
        _say(f"cannot run {command[0]!r}: {error}")
        sys.exit(127)


if __name__ == "__main__":
    main()
