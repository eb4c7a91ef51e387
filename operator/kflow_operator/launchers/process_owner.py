"""Whether a process on this host is a given FlowRun's: its environment says so.

A run's identifier comes from its FlowRun status, which anyone allowed to patch the status can
rewrite (`status.infrastructure.id` naming the PID and start time of any process of the
operator's user, in the operator's own scope). Every process the launcher starts carries
`KFLOW_FLOW_RUN_UID` in the environment it was executed with, which /proc keeps for its whole
life; a process whose environment does not name the run is never signalled, and never reported
as the run's. A child of the fork server was not executed with the run's environment: it
writes its run's UID into the server's start-up environment memory before the launcher learns
its PID (environ_slot.py), so the same check holds for it, across operator restarts too.
"""

from __future__ import annotations

from kflow.processes import PROC

from kflow_operator.decisions.launch_plan import RUN_UID_ENV


def runs_for(pid: int, run_uid: str) -> bool:
    """True when process `pid` was executed with `KFLOW_FLOW_RUN_UID=run_uid`; False when it
    was not, or its environment cannot be read (gone, a zombie, another user's)."""
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return f"{RUN_UID_ENV}={run_uid}".encode() in environ.split(b"\0")
