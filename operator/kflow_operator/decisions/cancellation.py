"""Enforced cancellation (design.md §5a) as a pure decision over the FlowRun and what its
infrastructure is doing.

The steps are recorded in status.cancellation as they happen, a kill deadline first (with
CANCELLING, before any signal), then the stop time with the deadline moved to stop time + grace
period, so an operator restarted at any point continues from the status alone: it re-sends a
stop whose time is missing (a second SIGTERM is harmless), kills at the recorded deadline, and
declares CANCELLED only once the infrastructure is really gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kflow.resources import DeploymentSpec, FlowRunSpec
from kflow.states import StateType

from kflow_operator.decisions.actions import (
    Action,
    BeginCancel,
    CancelNow,
    Kill,
    MarkCancelled,
    ReportUnkillable,
    SendStop,
    Wait,
)
from kflow_operator.decisions.supervised_run import (
    CANCEL_FAILED,
    DEFAULT_GRACE_SECONDS,
    SupervisedRun,
)
from kflow_operator.infrastructure import Observation

KILL_CONFIRM_SECONDS = 10
"""After SIGKILL, how long a process may still be seen before the kill is reported as failed."""


def grace_period(
    spec: FlowRunSpec, deployment: DeploymentSpec | None, *, default: int = DEFAULT_GRACE_SECONDS
) -> int:
    """The FlowRun's own grace period, else its Deployment's, else `default`: the operator's
    --default-grace-period, so a cluster admin sets it once for runs that say nothing."""
    if spec.cancel_grace_period_seconds is not None:
        return spec.cancel_grace_period_seconds
    if deployment is not None and deployment.cancel_grace_period_seconds is not None:
        return deployment.cancel_grace_period_seconds
    return default


def decide_cancellation(
    run: SupervisedRun, observation: Observation | None, ours: bool, now: datetime
) -> Action:
    """For a non-terminal run with spec.cancel set.

    `ours`: its infrastructure is in this operator's scope (then `observation` says what it is
    doing); False with an identifier means another operator's scope — leave it alone.
    """
    state = run.state_type
    identifier = run.identifier
    pause = run.status.pause
    suspended = state is StateType.PAUSED and pause is not None and bool(pause.reschedule)
    if suspended and (observation is None or observation.gone):
        return CancelNow("Cancelled while suspended; no process was running.")
    if identifier is None:
        if state in (None, StateType.SCHEDULED, StateType.PENDING):
            return CancelNow("Cancelled before it started.")
        return CancelNow(
            "Cancelled, but the cancellation could not be enforced: no infrastructure "
            "identifier was recorded, so nothing could be stopped.",
            unenforceable=True,
        )
    if not ours:
        return Wait()
    assert observation is not None, "an observation is needed for our own infrastructure"
    if observation.gone:
        return MarkCancelled(observation)
    if state is not StateType.CANCELLING:
        return BeginCancel()
    steps = run.cancellation
    if steps.stop_time is None:
        return SendStop()
    deadline = steps.kill_deadline or steps.stop_time
    if now < deadline:
        return Wait(deadline)
    if steps.kill_time is None:
        return Kill()
    confirm = steps.kill_time + timedelta(seconds=KILL_CONFIRM_SECONDS)
    if now < confirm:
        return Wait(confirm)
    if not run.condition_true(CANCEL_FAILED):
        return ReportUnkillable()
    return Wait()
