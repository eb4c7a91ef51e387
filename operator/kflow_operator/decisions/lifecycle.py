"""The FlowRun lifecycle as one pure decision: given the run, what its infrastructure is doing
and the time, what the operator does next.

not yet due → SCHEDULED (so that no FlowRun is ever without a state) → due → Launch → PENDING
with the identifier → (the flow reports RUNNING … a terminal state) → Finish. Infrastructure
that ends before a terminal state → CRASHED; one held up before the flow starts says why, and
past the start deadline → CRASHED. spec.cancel → the cancellation protocol (a run
cancelled before it launched goes straight to CANCELLED). A run whose infrastructure belongs to
another operator's scope is never touched.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kflow.resources import format_timestamp
from kflow.states import StateType

from kflow_operator.decisions.actions import (
    Action,
    Done,
    Finish,
    Kill,
    Launch,
    MarkCrashed,
    MarkFailed,
    MarkScheduled,
    Wait,
)
from kflow_operator.decisions.cancellation import decide_cancellation
from kflow_operator.decisions.deployment_runs import HELD_NAMES, LATE_NAME
from kflow_operator.decisions.start_wait import (
    DEFAULT_START_DEADLINE_SECONDS,
    INFRASTRUCTURE_READY,
    decide_start,
)
from kflow_operator.decisions.supervised_run import FINISHED, SupervisedRun
from kflow_operator.infrastructure import Observation

LINGER_SECONDS = 30
"""A process still running this long after its run's final state is killed (no leftovers)."""

HELD_SCHEDULED_NAMES = frozenset({*HELD_NAMES, LATE_NAME})
"""SCHEDULED runs of a Deployment in these states wait for its scheduling pass (which holds and
releases them, its pool included), never launch on their own. A run of no Deployment that its
pool holds asks the launch gate again whenever it is woken (a pool change, a slot freeing)."""


def decide(
    run: SupervisedRun,
    observation: Observation | None,
    ours: bool,
    now: datetime,
    start_deadline_seconds: float = DEFAULT_START_DEADLINE_SECONDS,
) -> Action:
    """The next step for `run`.

    `ours` tells whether its recorded infrastructure is in this operator's scope, and then
    `observation` is what the launcher sees; for runs without an identifier both are ignored.
    Infrastructure held up before the flow starts gives up `start_deadline_seconds` after its
    launch (decisions/start_wait.py).
    """
    if run.terminal:
        return _after_the_end(run, observation, ours, now)
    if run.spec.cancel:
        return decide_cancellation(run, observation, ours, now)
    if run.identifier is None:
        return _before_launch(run, now)
    if not ours:
        return Wait()
    assert observation is not None, "an observation is needed for our own infrastructure"
    pause = run.status.pause
    if run.state_type is StateType.PAUSED and pause is not None and pause.reschedule:
        return _rescheduled_pause(run, observation, now)
    if observation.gone:
        return MarkCrashed(observation, never_reported=run.state_type is StateType.PENDING)
    return decide_start(run, observation, now, start_deadline_seconds)


def _before_launch(run: SupervisedRun, now: datetime) -> Action:
    state = run.status.state
    if state is not None and state.type is not StateType.SCHEDULED:
        # PENDING or later without an identifier: someone else launched it (or it runs outside
        # any operator); the flow process reports on its own.
        return Wait()
    if state is not None and state.name in HELD_SCHEDULED_NAMES:
        if run.spec.deployment_ref is None and state.name in HELD_NAMES:
            return Launch()
        return Wait()
    due = run.spec.scheduled_time
    if due is not None and now < due:
        if state is None:
            return MarkScheduled(f"Scheduled for {_readable(due)}.")
        return Wait(due)
    return Launch()


def _readable(instant: datetime) -> str:
    """RFC 3339 as Kubernetes writes it, without the microseconds when there are none."""
    return format_timestamp(instant).replace(".000000Z", "Z")


def _rescheduled_pause(run: SupervisedRun, observation: Observation, now: datetime) -> Action:
    """The flow paused with reschedule=True and ended its process; resume launches it again."""
    if not observation.gone:
        return Wait()
    if not run.spec.paused:
        return Launch()
    pause = run.status.pause
    timeout = pause.timeout_time if pause else None
    if timeout is not None:
        if now >= timeout:
            return MarkFailed(
                "PauseTimedOut", "The run was not resumed before its pause timed out."
            )
        return Wait(timeout)
    return Wait()


def _after_the_end(
    run: SupervisedRun, observation: Observation | None, ours: bool, now: datetime
) -> Action:
    if run.condition_true(FINISHED):
        return Done()
    if ours and observation is not None and not observation.gone:
        ready = run.condition(INFRASTRUCTURE_READY)
        if observation.waiting is not None or (ready is not None and ready.status == "False"):
            # Held up, or given up on, before the flow started: nothing of it to wait for.
            return Kill(lingering=True, never_started=True)
        ended = run.status.state.timestamp if run.status.state else now
        linger_until = ended + timedelta(seconds=LINGER_SECONDS)
        if now >= linger_until:
            return Kill(lingering=True)
        return Wait(linger_until)
    return Finish(observation if ours else None)
