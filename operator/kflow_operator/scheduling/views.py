"""FlowRuns and Deployments as the scheduling decisions see them: plain values, no API types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kflow.resources import DeploymentSpec, parse_timestamp
from kflow.states import StateType

from kflow_operator.decisions.deployment_runs import (
    HELD_NAMES,
    SCHEDULED_NAME,
    DeploymentRun,
    RunPolicy,
)
from kflow_operator.scheduling.run_bodies import SCHEDULED_LABEL


def deployment_run(body: Mapping[str, Any]) -> DeploymentRun:
    meta = body["metadata"]
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    state = status.get("state") or {}
    scheduled = spec.get("scheduledTime")
    ended = status.get("endTime")
    return DeploymentRun(
        name=meta["name"],
        state_type=StateType(state.get("type", StateType.SCHEDULED.value)),
        state_name=state.get("name", SCHEDULED_NAME),
        created=parse_timestamp(meta["creationTimestamp"]),
        scheduled_time=parse_timestamp(scheduled) if scheduled else None,
        from_schedule=(meta.get("labels") or {}).get(SCHEDULED_LABEL) == "true",
        cancel_requested=bool(spec.get("cancel")),
        end_time=parse_timestamp(ended) if ended else None,
        was_held=any(entry.get("name") in HELD_NAMES for entry in status.get("stateHistory") or ()),
    )


def run_policy(spec: DeploymentSpec) -> RunPolicy:
    return RunPolicy(
        catchup=spec.catchup,
        catchup_limit=spec.catchup_limit,
        starting_deadline_seconds=spec.starting_deadline_seconds,
        concurrency_policy=spec.concurrency_policy,
        concurrency_limit=spec.concurrency_limit,
        paused=spec.paused,
    )
