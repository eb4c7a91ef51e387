"""What the scheduling decisions know about a Deployment's FlowRuns and its run policy.

Plain values built from the resources by scheduling/views.py, so that catch-up, concurrency and
history decisions are functions of data and can be tested without an API server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kflow.resources.deployment import CatchupPolicy
from kflow.resources.deployment import ConcurrencyPolicy as ConcurrencyPolicy
from kflow.states import TERMINAL_STATE_TYPES, StateType

# State names the scheduling decisions write (state types are kflow.states.StateType).
SCHEDULED_NAME = "Scheduled"
AWAITING_SLOT_NAME = "AwaitingConcurrencySlot"
AWAITING_POOL_NAME = "AwaitingWorkPool"
POOL_PAUSED_NAME = "PoolPaused"
HELD_NAMES = frozenset({AWAITING_SLOT_NAME, AWAITING_POOL_NAME, POOL_PAUSED_NAME})
"""A due run waiting in one of these was seen on time (held by its Deployment's limit or its
work pool), so it is never counted as missed by catch-up."""
LATE_NAME = "Late"
SKIPPED_NAME = "Skipped"

ACTIVE_STATE_TYPES = frozenset(
    {StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING}
)

# A due run evaluated later than this after its scheduled time was missed (no operator was
# scheduling when it fell due) rather than merely picked up with the normal latency.
DEFAULT_ON_TIME_TOLERANCE = timedelta(seconds=5)


@dataclass(frozen=True)
class DeploymentRun:
    """One of a Deployment's FlowRuns as catch-up, concurrency and history limits see it: its
    name, state and times, nothing else (scheduling/views.py builds it from the object). The
    supervisor's fuller view of the one run it handles is supervised_run.SupervisedRun."""

    name: str
    state_type: StateType
    state_name: str
    created: datetime
    scheduled_time: datetime | None = None
    from_schedule: bool = False
    cancel_requested: bool = False
    end_time: datetime | None = None
    was_held: bool = False
    """It waited for a slot or its pool before (its state history says so): it was seen on
    time, even once released back to `Scheduled`."""

    @property
    def due_at(self) -> datetime:
        """When the run may start: its scheduled time, or its creation for run-now runs."""
        return self.scheduled_time if self.scheduled_time is not None else self.created

    @property
    def is_unstarted(self) -> bool:
        return self.state_type is StateType.SCHEDULED and not self.cancel_requested

    @property
    def is_active(self) -> bool:
        return self.state_type in ACTIVE_STATE_TYPES

    @property
    def is_terminal(self) -> bool:
        return self.state_type in TERMINAL_STATE_TYPES


def scheduled_order(run: DeploymentRun) -> tuple[datetime, str]:
    """The order in which due runs start: scheduled time first, name to break ties."""
    return (run.due_at, run.name)


@dataclass(frozen=True)
class RunPolicy:
    """The parts of a Deployment spec that decide whether and when a due run starts."""

    catchup: CatchupPolicy = CatchupPolicy.LATEST
    catchup_limit: int = 10
    starting_deadline_seconds: int | None = None
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    concurrency_limit: int | None = None
    paused: bool = False
    on_time_tolerance: timedelta = DEFAULT_ON_TIME_TOLERANCE

    @property
    def effective_limit(self) -> int | None:
        """How many runs may be active at once; Forbid and Replace mean one unless told."""
        if self.concurrency_limit is not None:
            return self.concurrency_limit
        if self.concurrency_policy is ConcurrencyPolicy.ALLOW:
            return None
        return 1
