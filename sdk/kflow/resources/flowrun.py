"""The FlowRun resource: one run of a flow.

Its status stays small however long the run is (design.md §2): the state history and the list of
recent task runs are bounded here and in the CRD (maxItems), and messages are truncated
(kflow.resources.status_patch writes states within these limits).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from kflow.resources.common import Condition, SpecModel, StatusModel, Timestamp
from kflow.resources.deployment import Entrypoint, GracePeriodSeconds, Tags
from kflow.resources.infrastructure import InfrastructureSpec, InfrastructureType
from kflow.resources.workpool import WorkPoolRef
from kflow.states import StateType

FLOWRUN_KIND = "FlowRun"
FLOWRUN_PLURAL = "flowruns"

STATE_HISTORY_LIMIT = 30
RECENT_TASK_RUNS_LIMIT = 20
STATE_NAME_LIMIT = 64
STATE_MESSAGE_LIMIT = 4096
HISTORY_MESSAGE_LIMIT = 1024
RESULT_INLINE_LIMIT_BYTES = 16384
"""A result whose JSON is larger than this is stored elsewhere and referenced."""


class DeploymentRef(SpecModel):
    name: Annotated[str, Field(min_length=1, max_length=253)]


class ParentRef(SpecModel):
    name: Annotated[str, Field(min_length=1, max_length=253)]
    task_run_id: Annotated[str, Field(max_length=128)] | None = None


class FlowRunSpec(SpecModel):
    deployment_ref: DeploymentRef | None = None
    entrypoint: Entrypoint | None = None
    parameters: dict[str, Any] | None = None
    scheduled_time: Timestamp | None = None
    cancel: bool = False
    paused: bool = False
    cancel_grace_period_seconds: GracePeriodSeconds | None = None
    parent_ref: ParentRef | None = None
    run_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    tags: Tags | None = None
    work_pool: WorkPoolRef | None = None
    infrastructure: InfrastructureSpec | None = None

    @model_validator(mode="after")
    def _has_something_to_run(self) -> FlowRunSpec:
        """The same rule as the CRD's CEL validation."""
        where = self.work_pool is not None or (
            self.infrastructure is not None and self.infrastructure.type is not None
        )
        if self.deployment_ref is None and (self.entrypoint is None or not where):
            raise ValueError(
                "a FlowRun needs `deploymentRef.name`, or `entrypoint` and "
                "`infrastructure.type` or `workPool.name` for an ad-hoc run"
            )
        return self


class StateRecord(StatusModel):
    """The current state: `type` is one of the nine types, `name` e.g. `Late` or `Running`."""

    type: StateType
    name: Annotated[str, Field(min_length=1, max_length=STATE_NAME_LIMIT)]
    message: Annotated[str, Field(max_length=STATE_MESSAGE_LIMIT)] | None = None
    timestamp: Timestamp


class StateHistoryEntry(StatusModel):
    type: StateType
    name: Annotated[str, Field(min_length=1, max_length=STATE_NAME_LIMIT)]
    message: Annotated[str, Field(max_length=HISTORY_MESSAGE_LIMIT)] | None = None
    timestamp: Timestamp


class InfrastructureStatus(StatusModel):
    """Where the run lives. `pid` is `scope:id` (design.md §5); the operator acts on it only when
    the scope is its own."""

    type: InfrastructureType
    scope: Annotated[str, Field(max_length=1024)] | None = None
    id: Annotated[str, Field(max_length=1024)] | None = None
    pid: Annotated[str, Field(max_length=2049)] | None = None
    attempt: Annotated[int, Field(ge=1)] | None = None
    launch_time: Timestamp | None = None
    log_path: Annotated[str, Field(max_length=4096)] | None = None
    exit_code: int | None = None
    signal: Annotated[str, Field(max_length=32)] | None = None


class CancellationStatus(StatusModel):
    """The steps of an enforced cancellation (design.md §5a); the deadline lives here so that it
    survives operator restarts."""

    requested_time: Timestamp | None = None
    grace_period_seconds: Annotated[int, Field(ge=0)] | None = None
    stop_time: Timestamp | None = None
    kill_deadline: Timestamp | None = None
    kill_time: Timestamp | None = None
    gone_time: Timestamp | None = None


class PauseStatus(StatusModel):
    reschedule: bool | None = None
    timeout_time: Timestamp | None = None
    key: Annotated[str, Field(max_length=256)] | None = None


class TaskRunCounts(StatusModel):
    """Task runs per state type; keys are the state types as written (`COMPLETED`: 3)."""

    model_config = ConfigDict(alias_generator=str.upper, populate_by_name=True, extra="ignore")

    scheduled: Annotated[int, Field(ge=0)] | None = None
    pending: Annotated[int, Field(ge=0)] | None = None
    running: Annotated[int, Field(ge=0)] | None = None
    paused: Annotated[int, Field(ge=0)] | None = None
    cancelling: Annotated[int, Field(ge=0)] | None = None
    cancelled: Annotated[int, Field(ge=0)] | None = None
    completed: Annotated[int, Field(ge=0)] | None = None
    failed: Annotated[int, Field(ge=0)] | None = None
    crashed: Annotated[int, Field(ge=0)] | None = None


class TaskRunSummary(StatusModel):
    id: Annotated[str, Field(max_length=128)]
    name: Annotated[str, Field(max_length=253)]
    state_type: StateType
    state_name: Annotated[str, Field(max_length=STATE_NAME_LIMIT)] | None = None
    message: Annotated[str, Field(max_length=HISTORY_MESSAGE_LIMIT)] | None = None
    run_count: Annotated[int, Field(ge=0)] | None = None
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None


class TaskRunsStatus(StatusModel):
    total: Annotated[int, Field(ge=0)] | None = None
    counts: TaskRunCounts | None = None
    recent: Annotated[list[TaskRunSummary], Field(max_length=RECENT_TASK_RUNS_LIMIT)] | None = None


class FlowRunResult(StatusModel):
    """The flow's return value: inline `value` when its JSON is small, else a `reference`."""

    value: Any = None
    reference: Annotated[str, Field(max_length=4096)] | None = None
    summary: Annotated[str, Field(max_length=1024)] | None = None


class FlowRunStatus(StatusModel):
    observed_generation: int | None = None
    state: StateRecord | None = None
    state_history: (
        Annotated[list[StateHistoryEntry], Field(max_length=STATE_HISTORY_LIMIT)] | None
    ) = None
    run_name: Annotated[str, Field(max_length=253)] | None = None
    flow_name: Annotated[str, Field(max_length=253)] | None = None
    infrastructure: InfrastructureStatus | None = None
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    run_count: Annotated[int, Field(ge=0)] | None = None
    cancellation: CancellationStatus | None = None
    pause: PauseStatus | None = None
    task_runs: TaskRunsStatus | None = None
    result: FlowRunResult | None = None
    conditions: Annotated[list[Condition], Field(max_length=32)] | None = None
