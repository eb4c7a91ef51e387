"""What a FlowRun asks to run: its entrypoint and parameters, resolved against its Deployment.

Parameters merge key by key, the FlowRun's over the Deployment's (a FlowRun that sets one
parameter keeps the Deployment's defaults for the rest), as design.md §2 says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kflow.backend import DeploymentInfo


class RunSpecError(ValueError):
    """The FlowRun cannot be run as written; the message names the field."""


@dataclass(frozen=True)
class RunSpec:
    entrypoint: str
    parameters: dict[str, Any]
    deployment_name: str | None


def deployment_name(flow_run: Mapping[str, Any]) -> str | None:
    spec = flow_run.get("spec") or {}
    ref = spec.get("deploymentRef") or {}
    name = ref.get("name")
    return str(name) if name else None


def deployment_info(deployment: Mapping[str, Any] | None) -> DeploymentInfo | None:
    """What `kflow.runtime.deployment` shows for a run of `deployment` (None: no Deployment)."""
    if deployment is None:
        return None
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    return DeploymentInfo(
        id=str(metadata["uid"]) if metadata.get("uid") else None,
        name=str(metadata.get("name") or ""),
        parameters=dict(spec.get("parameters") or {}),
    )


def merge_parameters(
    deployment_parameters: Mapping[str, Any] | None, run_parameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {**(deployment_parameters or {}), **(run_parameters or {})}


def resolve_run_spec(flow_run: Mapping[str, Any], deployment: Mapping[str, Any] | None) -> RunSpec:
    """`deployment` is the object `spec.deploymentRef` names, None when it is absent/missing."""
    spec = flow_run.get("spec") or {}
    name = deployment_name(flow_run)
    inline = spec.get("entrypoint")
    if name is not None:
        if deployment is None:
            raise RunSpecError(
                f"spec.deploymentRef.name: Deployment {name!r} does not exist in this namespace"
            )
        deployment_spec = deployment.get("spec") or {}
        entrypoint = inline or deployment_spec.get("entrypoint")
        if not entrypoint:
            raise RunSpecError(f"Deployment {name!r} has no spec.entrypoint")
        return RunSpec(
            entrypoint=str(entrypoint),
            parameters=merge_parameters(deployment_spec.get("parameters"), spec.get("parameters")),
            deployment_name=name,
        )
    if not inline:
        raise RunSpecError(
            "the FlowRun names neither spec.deploymentRef.name nor an inline spec.entrypoint"
        )
    return RunSpec(
        entrypoint=str(inline),
        parameters=merge_parameters(None, spec.get("parameters")),
        deployment_name=None,
    )
