"""What carrying out each supervisor action writes into the FlowRun's status, and the Events it
posts: one pure function per action, of the run, the action and the time.

The supervisor (supervision/supervisor.py) does the action's effect first (launch, stop, kill),
then posts the Events and writes the status at the resourceVersion the decision was made on.
A state named here moves the run only if kflow.transitions accepts it from the current one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kflow.resources import format_timestamp
from kflow.states import StateType

from kflow_operator.decisions.actions import (
    CancelNow,
    Finish,
    GiveUpStart,
    Kill,
    MarkCancelled,
    MarkCrashed,
    MarkFailed,
    MarkScheduled,
    ReportScope,
    ReportWaiting,
)
from kflow_operator.decisions.deployment_runs import SCHEDULED_NAME
from kflow_operator.decisions.events import Event
from kflow_operator.decisions.scope import FOREIGN_REASON, FOREIGN_SCOPE, IN_SCOPE_REASON
from kflow_operator.decisions.start_wait import INFRASTRUCTURE_READY
from kflow_operator.decisions.supervised_run import (
    CANCEL_FAILED,
    FINISHED,
    LAUNCHED,
    ConditionChange,
    SupervisedRun,
    conditions_patch,
    conditions_set,
)
from kflow_operator.infrastructure import Launched, Observation


@dataclass(frozen=True)
class NewState:
    type: StateType
    name: str
    message: str


@dataclass(frozen=True)
class RunWrite:
    state: NewState | None = None
    """The state to move to; None leaves the state alone."""
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Other status fields, merged over the state's own patch."""
    events: tuple[Event, ...] = ()
    """Posted on the run before the write."""
    finishes: bool = False
    """The write sets the Finished condition too (a run that never had infrastructure): the
    operator is done with the run once it lands."""


FINISHED_MESSAGE = "The run is finished and its infrastructure is gone."


def exit_fields(observation: Observation | None) -> dict[str, Any]:
    """How the infrastructure ended, when it said (status.infrastructure exit code, signal)."""
    if observation is None or (observation.exit_code is None and observation.signal is None):
        return {}
    return {"infrastructure": {"exitCode": observation.exit_code, "signal": observation.signal}}


def scheduled(action: MarkScheduled) -> RunWrite:
    return RunWrite(NewState(StateType.SCHEDULED, SCHEDULED_NAME, action.message))


def crashed(action: MarkCrashed) -> RunWrite:
    ended = f"The flow's infrastructure {action.observation.describe()}"
    message = (
        f"{ended} before reporting: the flow never started (it ended while loading the "
        "entrypoint, or earlier); its log says why."
        if action.never_reported
        else f"{ended} before the run reached a final state."
    )
    return RunWrite(
        NewState(StateType.CRASHED, "Crashed", message), exit_fields(action.observation)
    )


def failed(
    action: MarkFailed, run: SupervisedRun | None = None, now: datetime | None = None
) -> RunWrite:
    """FAILED; when the infrastructure could not be had, InfrastructureReady False too (needs
    the run and the time). A run that never had infrastructure (no identifier) is finished by
    the same write: there is nothing to wait for, and a second write per run was a third of
    the operator's work when thousands of runs of a missing Deployment fail at once."""
    if run is None or now is None:
        return RunWrite(NewState(StateType.FAILED, "Failed", action.message))
    changes: list[ConditionChange] = []
    if action.infrastructure:
        changes.append(ConditionChange(INFRASTRUCTURE_READY, False, action.reason, action.message))
    never_launched = run.identifier is None
    if never_launched:
        changes.append(ConditionChange(FINISHED, True, "Failed", FINISHED_MESSAGE))
    fields = {"conditions": conditions_set(run, changes, now)} if changes else {}
    return RunWrite(
        NewState(StateType.FAILED, "Failed", action.message), fields, finishes=never_launched
    )


def no_launcher(infrastructure_type: str, enabled: Iterable[str]) -> MarkFailed:
    """A run of a type this operator was not started to run."""
    names = ", ".join(sorted(enabled)) or "none"
    return MarkFailed(
        "NoLauncher",
        f"This operator cannot run infrastructure type {infrastructure_type!r} (enabled: {names}).",
    )


def launched(run: SupervisedRun, launch: Launched, attempt: int, now: datetime) -> RunWrite:
    """PENDING with the identifier: written before the infrastructure may run the flow."""
    identifier = launch.identifier
    message = f"Launched {identifier.type} {identifier.pid}."
    infrastructure: dict[str, Any] = {
        "type": identifier.type,
        "scope": identifier.scope,
        "id": identifier.id,
        "pid": identifier.pid,
        "attempt": attempt,
        "launchTime": format_timestamp(now),
        "exitCode": None,
        "signal": None,
    }
    if launch.log_path:
        infrastructure["logPath"] = launch.log_path
    fields = {
        "infrastructure": infrastructure,
        "conditions": conditions_patch(run, LAUNCHED, True, "Launched", message, now),
    }
    return RunWrite(NewState(StateType.PENDING, "Pending", message), fields)


# --- before the flow starts ------------------------------------------------------------------


def waiting(run: SupervisedRun, action: ReportWaiting, now: datetime) -> RunWrite:
    """Still PENDING, with the wait as its message (a new history entry: one per new reason)
    and InfrastructureReady False."""
    wait = action.waiting
    fields = {
        "conditions": conditions_patch(
            run, INFRASTRUCTURE_READY, False, wait.reason, wait.message, now
        )
    }
    return RunWrite(NewState(StateType.PENDING, "Pending", wait.message), fields)


def started(run: SupervisedRun, now: datetime) -> RunWrite:
    """A reported wait is over: InfrastructureReady True (the flow reports RUNNING itself once
    its process is up; a container may still be on its ordinary way there)."""
    message = "Nothing holds the infrastructure up any more."
    return RunWrite(
        fields={
            "conditions": conditions_patch(
                run, INFRASTRUCTURE_READY, True, "WaitOver", message, now
            )
        }
    )


def gave_up(run: SupervisedRun, action: GiveUpStart, now: datetime) -> RunWrite:
    """CRASHED: the infrastructure did not start the flow within the start deadline."""
    wait = action.waiting
    message = (
        f"The flow's infrastructure did not start within {int(action.deadline_seconds)}s "
        f"(the operator's --start-deadline-seconds): {wait.message}"
    )
    fields = {
        "conditions": conditions_patch(run, INFRASTRUCTURE_READY, False, wait.reason, message, now)
    }
    return RunWrite(NewState(StateType.CRASHED, "Crashed", message), fields)


# --- cancellation ----------------------------------------------------------------------------


def cancelled_now(run: SupervisedRun, action: CancelNow, now: datetime) -> RunWrite:
    """CANCELLED at once; when it could not be enforced, a CancelFailed condition and Event."""
    fields: dict[str, Any] = {"cancellation": {"requestedTime": format_timestamp(now)}}
    events: tuple[Event, ...] = ()
    if action.unenforceable:
        fields["conditions"] = conditions_patch(
            run, CANCEL_FAILED, True, "NoInfrastructureIdentifier", action.message, now
        )
        events = (Event("Warning", "CancelFailed", action.message),)
    return RunWrite(NewState(StateType.CANCELLED, "Cancelled", action.message), fields, events)


def cancelling(now: datetime, grace_seconds: int) -> RunWrite:
    """CANCELLING, with the kill deadline recorded before any signal is sent."""
    deadline = now + timedelta(seconds=grace_seconds)
    message = (
        f"Cancelling: stopping the infrastructure; killing it at "
        f"{format_timestamp(deadline)} ({grace_seconds}s grace period)."
    )
    fields = {
        "cancellation": {
            "requestedTime": format_timestamp(now),
            "gracePeriodSeconds": grace_seconds,
            "killDeadline": format_timestamp(deadline),
        }
    }
    return RunWrite(NewState(StateType.CANCELLING, "Cancelling", message), fields)


def stop_grace_seconds(run: SupervisedRun) -> int:
    return run.cancellation.grace_period_seconds or 0


def stop_sent(run: SupervisedRun, now: datetime) -> RunWrite:
    """The stop request went out at `now`: the grace period counts from it (the deadline
    written with CANCELLING, before any signal, only covers a crash before this point)."""
    deadline = now + timedelta(seconds=stop_grace_seconds(run))
    fields = {
        "cancellation": {
            "stopTime": format_timestamp(now),
            "killDeadline": format_timestamp(deadline),
        }
    }
    return RunWrite(
        fields=fields, events=(Event("Normal", "StopSent", f"Asked {_pid(run)} to stop."),)
    )


def killed(run: SupervisedRun, action: Kill, now: datetime) -> RunWrite:
    """A kill at the end of the grace period is recorded; a lingering process's is only
    announced (the run has ended already)."""
    if action.never_started:
        message = f"Removed {_pid(run)}: it never started the flow."
        return RunWrite(events=(Event("Normal", "Removed", message),))
    if action.lingering:
        message = f"Killed {_pid(run)}: still running after the run ended."
        return RunWrite(events=(Event("Warning", "Killed", message),))
    return RunWrite(
        fields={"cancellation": {"killTime": format_timestamp(now)}},
        events=(Event("Warning", "Killed", f"Grace period over; killed {_pid(run)}."),),
    )


def cancelled(action: MarkCancelled, now: datetime) -> RunWrite:
    """The infrastructure of a CANCELLING run is gone."""
    how = action.observation.describe() if action.observation else "is gone"
    fields = exit_fields(action.observation)
    fields["cancellation"] = {"goneTime": format_timestamp(now)}
    message = f"Cancelled: the infrastructure {how}."
    return RunWrite(NewState(StateType.CANCELLED, "Cancelled", message), fields)


def unkillable(run: SupervisedRun, now: datetime) -> RunWrite:
    message = f"{_pid(run)} is still there after SIGKILL; the run stays CANCELLING."
    return RunWrite(
        fields={
            "conditions": conditions_patch(run, CANCEL_FAILED, True, "KillFailed", message, now)
        },
        events=(Event("Warning", "CancelFailed", message),),
    )


def scope(run: SupervisedRun, action: ReportScope, now: datetime) -> RunWrite:
    """The ForeignScope condition; a Warning Event when it is set (kubectl describe)."""
    reason = FOREIGN_REASON if action.foreign else IN_SCOPE_REASON
    fields = {
        "conditions": conditions_patch(
            run, FOREIGN_SCOPE, action.foreign, reason, action.message, now
        )
    }
    events = (Event("Warning", FOREIGN_REASON, action.message),) if action.foreign else ()
    return RunWrite(fields=fields, events=events)


# --- the end ---------------------------------------------------------------------------------


def finished(run: SupervisedRun, action: Finish, now: datetime) -> RunWrite:
    """The Finished condition, reason the final state's type, and how the infrastructure
    ended."""
    state = run.status.state
    fields = exit_fields(action.observation)
    fields["conditions"] = conditions_patch(
        run,
        FINISHED,
        True,
        state.type.value.title() if state else "Finished",
        FINISHED_MESSAGE,
        now,
    )
    return RunWrite(fields=fields)


def _pid(run: SupervisedRun) -> str:
    assert run.identifier is not None, "only a run with recorded infrastructure is stopped"
    return run.identifier.pid
