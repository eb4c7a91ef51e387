"""The Deployment resource: a flow ready to run, and when to run it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from kflow.resources.common import Condition, SpecModel, StatusModel, Timestamp
from kflow.resources.infrastructure import InfrastructureSpec
from kflow.resources.workpool import WorkPoolRef

DEPLOYMENT_KIND = "Deployment"
DEPLOYMENT_PLURAL = "deployments"

ENTRYPOINT_PATTERN = r"^[^:\s]+:[A-Za-z_][A-Za-z0-9_]*$"
"""`path/to/file.py:function` or `package.module:function`."""

Entrypoint = Annotated[str, Field(min_length=3, max_length=1024, pattern=ENTRYPOINT_PATTERN)]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=64)]
MAX_GRACE_PERIOD_SECONDS = 86400
GracePeriodSeconds = Annotated[int, Field(ge=0, le=MAX_GRACE_PERIOD_SECONDS)]


class CatchupPolicy(StrEnum):
    NONE = "None"
    LATEST = "Latest"
    ALL = "All"


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class ScheduleSpec(SpecModel):
    """One entry of a Deployment's `spec.schedules`; the operator computes fire times from its
    parsed form, kflow_operator.decisions.schedules.Schedule."""

    cron: Annotated[str, Field(min_length=9, max_length=256)] | None = None
    timezone: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+/-]*$")]
        | None
    ) = None
    interval: Annotated[int, Field(ge=1, le=31622400)] | None = None
    anchor_time: Timestamp | None = None
    active: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleSpec:
        """The same rules as the CRD's CEL validations."""
        if (self.cron is None) == (self.interval is None):
            raise ValueError("each schedule needs exactly one of `cron` or `interval`")
        if self.timezone is not None and self.cron is None:
            raise ValueError("`timezone` applies to `cron` schedules only")
        if self.anchor_time is not None and self.interval is None:
            raise ValueError("`anchorTime` applies to `interval` schedules only")
        return self


class DeploymentSpec(SpecModel):
    entrypoint: Entrypoint
    description: Annotated[str, Field(max_length=4096)] | None = None
    parameters: dict[str, Any] | None = None
    parameter_schema: dict[str, Any] | None = None
    schedules: Annotated[list[ScheduleSpec], Field(max_length=20)] | None = None
    paused: bool = False
    catchup: CatchupPolicy = CatchupPolicy.LATEST
    catchup_limit: Annotated[int, Field(ge=1, le=1000)] = 10
    upcoming_runs: Annotated[int, Field(ge=0, le=20)] = 3
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    concurrency_limit: Annotated[int, Field(ge=1, le=10000)] | None = None
    starting_deadline_seconds: Annotated[int, Field(ge=0, le=31622400)] | None = None
    successful_runs_history_limit: Annotated[int, Field(ge=0, le=10000)] = 10
    failed_runs_history_limit: Annotated[int, Field(ge=0, le=10000)] = 10
    cancel_grace_period_seconds: GracePeriodSeconds | None = None
    """None: the operator's --default-grace-period (30 s unless configured)."""
    tags: Tags | None = None
    work_pool: WorkPoolRef | None = None
    infrastructure: InfrastructureSpec | None = None

    @model_validator(mode="after")
    def _knows_where_to_run(self) -> DeploymentSpec:
        """The same rule as the CRD's CEL validation."""
        if self.work_pool is None and (
            self.infrastructure is None or self.infrastructure.type is None
        ):
            raise ValueError(
                "a Deployment needs `workPool.name` or `infrastructure.type` "
                "(kubernetes-job, docker or process)"
            )
        return self


class DeploymentStatus(StatusModel):
    observed_generation: int | None = None
    schedule_summary: str | None = None
    last_schedule_time: Timestamp | None = None
    next_schedule_time: Timestamp | None = None
    active_runs: Annotated[list[str], Field(max_length=1000)] | None = None
    last_successful_run: str | None = None
    last_successful_time: Timestamp | None = None
    conditions: Annotated[list[Condition], Field(max_length=32)] | None = None
