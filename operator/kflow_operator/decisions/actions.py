"""What the FlowRun supervisor does next: one action per decision (decisions.lifecycle, or the
launch gate), carried out by supervision/supervisor.py, which writes what
decisions/run_writes.py says.

Every action is idempotent against a fresh read: the supervisor writes with the resourceVersion
the decision was made on, and when the run moved meanwhile re-reads and decides again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kflow_operator.decisions.events import Event
from kflow_operator.infrastructure import Observation, StartWait


@dataclass(frozen=True)
class Wait:
    """Nothing to do until `until` (None: until something changes)."""

    until: datetime | None = None


@dataclass(frozen=True)
class Done:
    """The operator is finished with this run; stop supervising it."""


@dataclass(frozen=True)
class MarkScheduled:
    """A run that is not yet due gets its first state, SCHEDULED `Scheduled`, so that no
    FlowRun is ever shown without one (it used to have no status until it was launched)."""

    message: str


@dataclass(frozen=True)
class Launch:
    """Start the next attempt's infrastructure (then record it as PENDING, then release it)."""


@dataclass(frozen=True)
class MarkCrashed:
    """The infrastructure ended without the run reaching a terminal state."""

    observation: Observation
    never_reported: bool = False
    """The run was still PENDING: the flow's process never reported (it ended while loading
    the entrypoint, or before), which its user needs told apart from a crash mid-run."""


@dataclass(frozen=True)
class MarkFailed:
    reason: str
    message: str
    infrastructure: bool = False
    """True: the infrastructure could not be had (a Docker image that cannot be pulled), so
    the InfrastructureReady condition says False with `reason` too."""


@dataclass(frozen=True)
class ReportWaiting:
    """The infrastructure is there but held up before the flow starts: the PENDING message and
    the InfrastructureReady condition (False, the wait's reason) say why."""

    waiting: StartWait


@dataclass(frozen=True)
class ReportStarted:
    """A wait that was reported is over: InfrastructureReady True."""


@dataclass(frozen=True)
class GiveUpStart:
    """Held up past the start deadline: CRASHED with the wait's words (then, the run being
    over and its infrastructure never having started the flow, Kill removes it at once)."""

    waiting: StartWait
    deadline_seconds: float


@dataclass(frozen=True)
class CancelNow:
    """CANCELLED without touching infrastructure: none was started, or none can be reached."""

    message: str
    unenforceable: bool = False
    """True: a CancelFailed condition says why the cancellation could not be enforced."""


@dataclass(frozen=True)
class BeginCancel:
    """CANCELLING, with the kill deadline recorded before any signal is sent."""


@dataclass(frozen=True)
class SendStop:
    """The polite stop request (SIGTERM); its time goes to status.cancellation.stopTime."""


@dataclass(frozen=True)
class Kill:
    """Kill outright: the grace period is over, or a finished run's process lingers."""

    lingering: bool = False
    never_started: bool = False
    """The finished run's infrastructure never started the flow: removed without lingering."""


@dataclass(frozen=True)
class MarkCancelled:
    """The infrastructure of a CANCELLING run is gone: CANCELLED."""

    observation: Observation | None


@dataclass(frozen=True)
class ReportUnkillable:
    """Killed, yet still there long after: a CancelFailed condition, the run stays CANCELLING."""


@dataclass(frozen=True)
class Finish:
    """The run is terminal and its infrastructure gone: record how it ended, then Done."""

    observation: Observation | None


# --- what the launch gate (OperatorContext.admission) answers instead of a due run's launch ---


@dataclass(frozen=True)
class HoldForSlot:
    """The due run waits in SCHEDULED `state_name`: `AwaitingConcurrencySlot` (its Deployment's
    or its pool's limit), `PoolPaused` or `AwaitingWorkPool`. The Deployment's scheduling pass
    (or, for a run of no Deployment, its supervisor) lets it start once nothing holds it."""

    message: str
    body: Mapping[str, Any]
    """The run as the gate saw it: the state is written at its resourceVersion."""
    state_name: str = "AwaitingConcurrencySlot"


@dataclass(frozen=True)
class Skip:
    """The due run must not start (missed, too late, or Forbid finds no slot): `Late`, then
    CANCELLED `Skipped`, both with `message`."""

    message: str
    body: Mapping[str, Any]
    """The run as the gate saw it: the states are written from its resourceVersion on."""


@dataclass(frozen=True)
class ReplaceOthers:
    """concurrencyPolicy=Replace: ask `runs` to cancel (spec.cancel) and announce it on each
    (`events`), then launch."""

    runs: tuple[str, ...]
    events: tuple[Event, ...] = ()


Action = (
    Wait
    | Done
    | MarkScheduled
    | Launch
    | MarkCrashed
    | MarkFailed
    | ReportWaiting
    | ReportStarted
    | GiveUpStart
    | CancelNow
    | BeginCancel
    | SendStop
    | Kill
    | MarkCancelled
    | ReportUnkillable
    | Finish
    | HoldForSlot
    | Skip
    | ReplaceOthers
)
