"""Typed views of the kflow custom resources (CRDs in crds/ are the source of truth).

The flow process (`kflow execute`), the CLI and the operator all read and write FlowRuns and
Deployments through these models, so that one definition of every field exists on the Python
side; tests/unit/test_resources_schema.py fails when they drift from the CRD schemas.
"""

from kflow.resources.common import (
    API_VERSION,
    GROUP,
    VERSION,
    Condition,
    ConditionStatus,
    format_timestamp,
    parse_timestamp,
)
from kflow.resources.deployment import (
    DEPLOYMENT_KIND,
    DEPLOYMENT_PLURAL,
    CatchupPolicy,
    ConcurrencyPolicy,
    DeploymentSpec,
    DeploymentStatus,
    ScheduleSpec,
)
from kflow.resources.flowrun import (
    FLOWRUN_KIND,
    FLOWRUN_PLURAL,
    RECENT_TASK_RUNS_LIMIT,
    STATE_HISTORY_LIMIT,
    CancellationStatus,
    DeploymentRef,
    FlowRunResult,
    FlowRunSpec,
    FlowRunStatus,
    InfrastructureStatus,
    ParentRef,
    PauseStatus,
    StateHistoryEntry,
    StateRecord,
    TaskRunCounts,
    TaskRunsStatus,
    TaskRunSummary,
)
from kflow.resources.infrastructure import (
    DockerOptions,
    ImagePullPolicy,
    InfrastructureSpec,
    InfrastructureType,
    JobOptions,
    ProcessOptions,
)
from kflow.resources.status_patch import append_state_history

__all__ = [
    "API_VERSION",
    "DEPLOYMENT_KIND",
    "DEPLOYMENT_PLURAL",
    "FLOWRUN_KIND",
    "FLOWRUN_PLURAL",
    "GROUP",
    "RECENT_TASK_RUNS_LIMIT",
    "STATE_HISTORY_LIMIT",
    "VERSION",
    "CancellationStatus",
    "CatchupPolicy",
    "ConcurrencyPolicy",
    "Condition",
    "ConditionStatus",
    "DeploymentRef",
    "DeploymentSpec",
    "DeploymentStatus",
    "DockerOptions",
    "FlowRunResult",
    "FlowRunSpec",
    "FlowRunStatus",
    "ImagePullPolicy",
    "InfrastructureSpec",
    "InfrastructureStatus",
    "InfrastructureType",
    "JobOptions",
    "ParentRef",
    "PauseStatus",
    "ProcessOptions",
    "ScheduleSpec",
    "StateHistoryEntry",
    "StateRecord",
    "TaskRunCounts",
    "TaskRunSummary",
    "TaskRunsStatus",
    "append_state_history",
    "format_timestamp",
    "parse_timestamp",
]
