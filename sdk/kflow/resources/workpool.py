"""The WorkPool resource: where runs execute, configured once (design.md §2).

A pool names one infrastructure type and the settings its runs share; its Deployments (and a
FlowRun that names it) inherit them field by field (kflow.resources.infrastructure_merge). The
pool's limit and pause hold runs of all its Deployments together. Its status is written by the
operators serving it (workers): each keeps its own entry in `workers` fresh with a heartbeat.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from kflow.resources.common import Condition, SpecModel, StatusModel, Timestamp
from kflow.resources.infrastructure import InfrastructureSettings, InfrastructureType
from kflow.resources.notifications import Notifications

WORKPOOL_KIND = "WorkPool"
WORKPOOL_PLURAL = "workpools"

POOL_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
PoolName = Annotated[str, Field(min_length=1, max_length=63, pattern=POOL_NAME_PATTERN)]
WORKERS_LIMIT = 64


class WorkPoolRef(SpecModel):
    """`spec.workPool` of a Deployment or FlowRun: the pool, in the same namespace."""

    name: PoolName


class WorkPoolSpec(SpecModel):
    type: InfrastructureType
    description: Annotated[str, Field(max_length=4096)] | None = None
    infrastructure: InfrastructureSettings | None = None
    concurrency_limit: Annotated[int, Field(ge=0, le=100000)] | None = None
    """At most this many runs of the pool's Deployments at once; 0 holds them all."""
    paused: bool = False
    notifications: Notifications | None = None
    """For the runs of Deployments (and ad-hoc FlowRuns) of this pool that set none."""

    @model_validator(mode="after")
    def _options_match_type(self) -> WorkPoolSpec:
        """The same rules as the CRD's CEL validations."""
        if self.infrastructure is not None and (
            problem := self.infrastructure.options_mismatch(self.type)
        ):
            raise ValueError(f"infrastructure: {problem} (this pool's spec.type is {self.type})")
        return self


class WorkerStatus(StatusModel):
    """One operator serving the pool."""

    identity: Annotated[str, Field(min_length=1, max_length=253)]
    last_heartbeat_time: Timestamp
    start_time: Timestamp | None = None
    version: Annotated[str, Field(max_length=64)] | None = None


class WorkPoolRunCounts(StatusModel):
    """The pool's FlowRuns by state type (lower-case keys, as Kubernetes field names are)."""

    scheduled: int = 0
    pending: int = 0
    running: int = 0
    paused: int = 0
    cancelling: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    crashed: int = 0


class WorkPoolStatus(StatusModel):
    observed_generation: int | None = None
    workers: Annotated[list[WorkerStatus], Field(max_length=WORKERS_LIMIT)] | None = None
    last_heartbeat_time: Timestamp | None = None
    """The newest heartbeat of any worker, kept when its entry is gone (a worker that left)."""
    live_workers: int | None = None
    run_counts: WorkPoolRunCounts | None = None
    late_runs: int | None = None
    conditions: Annotated[list[Condition], Field(max_length=32)] | None = None
