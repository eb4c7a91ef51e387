"""What a container's state says about the run, and which containers to sweep (pure).

A container whose FlowRun is gone is removed. Finished containers stay (so `kflow flow-run logs`
and `docker logs` work after the run, as `kubectl logs` does for a Job's pod) until their
FlowRun is deleted, or are removed as soon as the run is finished with
`removal=RemovalPolicy.ON_FINISH`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kflow_operator.infrastructure import (
    RUNNING,
    Observation,
    ObservedPhase,
    signal_of_exit_code,
)
from kflow_operator.launchers.base import UNRECORDED_GRACE_SECONDS
from kflow_operator.launchers.docker.names import LABEL_UID
from kflow_operator.launchers.docker.options import RemovalPolicy


def observation_of_state(state: Mapping[str, Any]) -> Observation:
    """From a container's `State` (docker inspect): running, or how it ended.

    A container that never started but carries an `Error` (the command does not exist, a mount
    fails) has ended too: the daemon's error is the reason.
    """
    status = str(state.get("Status") or "")
    error = str(state.get("Error") or "")
    if status in ("running", "paused", "restarting") or (status == "created" and not error):
        return RUNNING
    if status == "removing":
        return Observation(ObservedPhase.MISSING, reason="container is being removed")
    code = state.get("ExitCode")
    exit_code = int(code) if isinstance(code, int) else None
    reasons = []
    if state.get("OOMKilled"):
        reasons.append("OOMKilled")
    if error:
        reasons.append(f"Docker: {error}")
    if status == "dead":
        reasons.append("container is dead")
    return Observation(
        ObservedPhase.EXITED,
        exit_code=exit_code,
        signal=signal_of_exit_code(exit_code) if exit_code is not None else None,
        reason="; ".join(reasons),
    )


def should_sweep(
    labels: Mapping[str, str],
    status: str,
    age_seconds: float,
    container_id: str,
    flow_run: Mapping[str, Any] | None,
    removal: RemovalPolicy,
) -> str | None:
    """Why a kflow container should be removed now, or None to keep it.

    `flow_run` is the FlowRun the labels name as read from the API (None: it does not exist).
    """
    if flow_run is None:
        return "its FlowRun no longer exists"
    if (flow_run.get("metadata") or {}).get("uid") != labels.get(LABEL_UID):
        return "its FlowRun was deleted (a new one has the same name)"
    status_body = flow_run.get("status") or {}
    infrastructure = status_body.get("infrastructure") or {}
    recorded = infrastructure.get("id") == container_id
    if status == "created" and not recorded and age_seconds > UNRECORDED_GRACE_SECONDS:
        return "it was launched but never recorded in its FlowRun"
    finished = any(
        c.get("type") == "Finished" and c.get("status") == "True"
        for c in status_body.get("conditions") or []
    )
    if removal is RemovalPolicy.ON_FINISH and finished and status in ("exited", "dead", "created"):
        return "its run is finished"
    if not recorded and status in ("exited", "dead") and (finished or infrastructure.get("id")):
        return "it ran an earlier attempt of its FlowRun"
    return None
