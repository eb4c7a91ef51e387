"""A FlowRun as its supervisor's decisions see it: parsed once, immutable, no API types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kflow.resources import (
    CancellationStatus,
    Condition,
    ConditionStatus,
    FlowRunSpec,
    FlowRunStatus,
)
from kflow.resources.status_patch import StateEntry, patch_to_state
from kflow.states import TERMINAL_STATE_TYPES, StateType

from kflow_operator.identifiers import InfrastructureId

CANCEL_FAILED = "CancelFailed"
"""Condition: the operator could not enforce a cancellation (True) — never a silent CANCELLED."""
FINISHED = "Finished"
"""Condition: the run is terminal and its infrastructure is gone; the operator is done with it."""
LAUNCHED = "Launched"
"""Condition: the infrastructure was started and recorded."""

DEFAULT_GRACE_SECONDS = 30


@dataclass(frozen=True)
class SupervisedRun:
    """The FlowRun a supervisor handles, whole: metadata, parsed spec and status. A sibling run
    as the scheduling decisions compare it is the slimmer deployment_runs.DeploymentRun."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    generation: int
    deleting: bool
    spec: FlowRunSpec
    status: FlowRunStatus

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> SupervisedRun:
        meta = body["metadata"]
        return cls(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            resource_version=str(meta.get("resourceVersion", "")),
            generation=int(meta.get("generation") or 0),
            deleting=bool(meta.get("deletionTimestamp")),
            spec=FlowRunSpec.model_validate(body.get("spec") or {}),
            status=FlowRunStatus.model_validate(body.get("status") or {}),
        )

    @property
    def state_type(self) -> StateType | None:
        return self.status.state.type if self.status.state else None

    @property
    def terminal(self) -> bool:
        return self.state_type in TERMINAL_STATE_TYPES

    @property
    def identifier(self) -> InfrastructureId | None:
        infra = self.status.infrastructure
        if infra is None or not infra.scope or not infra.id:
            return None
        return InfrastructureId(infra.type.value, infra.scope, infra.id, owner=self.uid)

    @property
    def attempt(self) -> int:
        """Launches so far: 0 before the first."""
        infra = self.status.infrastructure
        if infra is None or not infra.id:
            return 0
        return infra.attempt or 1

    @property
    def cancellation(self) -> CancellationStatus:
        return self.status.cancellation or CancellationStatus()

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.status.conditions or [] if c.type == kind), None)

    def condition_true(self, kind: str) -> bool:
        found = self.condition(kind)
        return found is not None and found.status == "True"


def state_patch(
    run: SupervisedRun, state_type: StateType, name: str, message: str | None, now: datetime
) -> dict[str, Any] | None:
    """The status merge patch that moves `run` to a new state (kflow.resources.status_patch,
    the builder the flow process uses too); None when kflow.transitions refuses it from the
    current one (then the caller re-reads and decides again)."""
    status = run.status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return patch_to_state(status, StateEntry(state_type, name, message, now))


def conditions_patch(
    run: SupervisedRun, kind: str, status: bool, reason: str, message: str, now: datetime
) -> list[dict[str, Any]]:
    """`status.conditions` with one condition set; its transition time moves only when its
    status does (the Kubernetes convention)."""
    return conditions_set(run, [ConditionChange(kind, status, reason, message)], now)


@dataclass(frozen=True)
class ConditionChange:
    kind: str
    status: bool
    reason: str
    message: str


def conditions_set(
    run: SupervisedRun, changes: Sequence[ConditionChange], now: datetime
) -> list[dict[str, Any]]:
    """`status.conditions` with each change applied, for writes that settle several at once."""
    result = [
        c.model_dump(mode="json", by_alias=True, exclude_none=True)
        for c in run.status.conditions or []
    ]
    for change in changes:
        wanted: ConditionStatus = "True" if change.status else "False"
        entry = Condition(
            type=change.kind,
            status=wanted,
            reason=change.reason,
            message=change.message,
            last_transition_time=now,
            observed_generation=run.generation,
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        found = False
        for i, existing in enumerate(result):
            if existing.get("type") != change.kind:
                continue
            found = True
            result[i] = dict(entry)
            if existing.get("status") == wanted:  # unchanged: its transition time stays
                result[i].pop("lastTransitionTime")
                if "lastTransitionTime" in existing:
                    result[i]["lastTransitionTime"] = existing["lastTransitionTime"]
        if not found:
            result.append(entry)
    return result
