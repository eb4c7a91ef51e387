"""A launched run whose infrastructure has not started the flow yet: show why, and give up past
the start deadline (pure).

Why a run did not start belongs where its user looks, the FlowRun: its PENDING message and its
InfrastructureReady condition (False, reason = Kubernetes' word for the wait). A wait that never
ends would leave the run PENDING for ever; past the operator's start deadline
(--start-deadline-seconds), counted from the launch, the run ends CRASHED with the wait's words
and what was created is removed. Infrastructure that runs but whose flow never reports (an
entrypoint whose import never ends) gets the same deadline: without one it would stay PENDING
for ever, holding a concurrency slot.

One write per change of reason, not per look: the supervisor looks every few seconds, and a pod
whose image cannot be pulled flips between ErrImagePull and ImagePullBackOff for as long as it
lasts, so those two count as one wait.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kflow.states import StateType

from kflow_operator.decisions.actions import (
    Action,
    GiveUpStart,
    ReportStarted,
    ReportWaiting,
    Wait,
)
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.infrastructure import Observation, StartWait

INFRASTRUCTURE_READY = "InfrastructureReady"
"""Condition: False while the infrastructure waits before the flow can start (the reason says
on what); True once a reported wait is over."""
DEFAULT_START_DEADLINE_SECONDS = 300.0
NOT_REPORTED = "NotReported"
"""InfrastructureReady reason: the infrastructure runs, but the flow in it never reported."""

_SAME_WAIT = {"ImagePullBackOff": "ErrImagePull"}
"""Waiting reasons that alternate during one wait: the kubelet retries a failed pull with a
back-off, and says ErrImagePull while it pulls and ImagePullBackOff in between."""


def decide_start(
    run: SupervisedRun, observation: Observation, now: datetime, deadline_seconds: float
) -> Action:
    """What to do about running infrastructure (`observation` not gone) of a run that is not
    terminal: report a new wait, report the end of a reported one, give up, or wait."""
    waiting = observation.waiting
    ready = run.condition(INFRASTRUCTURE_READY)
    reported = ready is not None and ready.status == "False"
    gives_up = launched_at(run, now) + timedelta(seconds=deadline_seconds)
    if waiting is None:
        if reported:
            return ReportStarted()
        if run.state_type is not StateType.PENDING:
            return Wait()
        if now >= gives_up:
            return GiveUpStart(never_reported(deadline_seconds), deadline_seconds)
        return Wait(gives_up)
    if run.state_type is not StateType.PENDING:
        return Wait()  # the flow reports on its own once it runs
    if now >= gives_up:
        return GiveUpStart(waiting, deadline_seconds)
    if ready is None or not reported or _kind(ready.reason) != _kind(waiting.reason):
        return ReportWaiting(waiting)
    return Wait(gives_up)


def never_reported(deadline_seconds: float) -> StartWait:
    """Running infrastructure whose flow process never reported: stuck before the flow starts
    (an entrypoint whose import never ends, a command that is not `kflow execute`)."""
    return StartWait(
        NOT_REPORTED,
        f"the flow's process ran {int(deadline_seconds)}s without reporting RUNNING (is the "
        "entrypoint's import stuck? its log may say where)",
    )


def launched_at(run: SupervisedRun, now: datetime) -> datetime:
    """When the current attempt was launched: the start deadline counts from it."""
    infrastructure = run.status.infrastructure
    if infrastructure is not None and infrastructure.launch_time is not None:
        return infrastructure.launch_time
    state = run.status.state
    return state.timestamp if state is not None else now


def _kind(reason: str | None) -> str:
    return _SAME_WAIT.get(reason or "", reason or "")
