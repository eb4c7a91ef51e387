"""The gate in front of every process the process launcher starts.

`python -m kflow_operator.launchers.gate CMD ARGS…` waits on the pipe named by KFLOW_GATE_FD.
`go` from the operator (sent once the FlowRun status records this process) → exec CMD, keeping
PID and start time, so the recorded identifier stays true. End of file instead means the
operator died: exec CMD only if the FlowRun status names this very process, else exit without
running anything (the restarted operator launches a fresh attempt).

Kept free of heavy imports: its start-up time is part of every run's launch latency.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, cast

from kflow_operator.identifiers import host_scope, own_process_id

RECORD_WAIT_SECONDS = 5.0
"""How long an orphaned gate waits for a status write that its operator may have had in flight."""


def _recorded_here() -> bool:
    """Whether the FlowRun's status names this process as its infrastructure."""
    # Imported here: only a gate orphaned by its operator pays for the Kubernetes client.
    from kflow.cluster.kube import new_api_client
    from kflow.resources import FLOWRUN_PLURAL, GROUP, VERSION
    from kubernetes.client import CustomObjectsApi

    api = CustomObjectsApi(new_api_client())
    namespace = os.environ["KFLOW_FLOW_RUN_NAMESPACE"]
    name = os.environ["KFLOW_FLOW_RUN_NAME"]
    me = own_process_id().format()
    deadline = time.monotonic() + RECORD_WAIT_SECONDS
    while True:
        body = cast(
            dict[str, Any],
            api.get_namespaced_custom_object(GROUP, VERSION, namespace, FLOWRUN_PLURAL, name),
        )
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


def main() -> None:
    command = sys.argv[1:]
    fd = int(os.environ.pop("KFLOW_GATE_FD"))
    signal_ = b""
    while chunk := os.read(fd, 16):
        signal_ += chunk
        if signal_.startswith(b"go"):
            break
    os.close(fd)
    if not signal_.startswith(b"go"):
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
