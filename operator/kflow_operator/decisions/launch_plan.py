"""What to start for a run: the effective infrastructure, env and command, or why it cannot.

The infrastructure is decided by one rule shared with `kflow flow-run inspect`
(kflow.resources.infrastructure_merge): FlowRun > Deployment > WorkPool > operator defaults,
field by field.
"""

from __future__ import annotations

from dataclasses import dataclass

from kflow.resources import (
    DeploymentSpec,
    InfrastructureConflict,
    Layer,
    MergedInfrastructure,
    WorkPoolSpec,
    merge_infrastructure,
    storage_env,
    storage_secret_env,
)
from kflow.resources.infrastructure_merge import CONTAINER_TYPES

from kflow_operator.decisions.actions import MarkFailed
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.infrastructure import LaunchRequest

RUN_NAMESPACE_ENV = "KFLOW_FLOW_RUN_NAMESPACE"
RUN_NAME_ENV = "KFLOW_FLOW_RUN_NAME"
RUN_UID_ENV = "KFLOW_FLOW_RUN_UID"

__all__ = ["CONTAINER_TYPES", "PoolView", "effective_infrastructure", "plan_launch"]


@dataclass(frozen=True)
class PoolView:
    """The run's work pool as the launch sees it: its name and spec."""

    name: str
    spec: WorkPoolSpec


def effective_infrastructure(
    run: SupervisedRun,
    deployment: DeploymentSpec | None,
    pool: PoolView | None,
    *,
    default_image: str | None = None,
) -> MergedInfrastructure:
    """The merged infrastructure of `run`; raises InfrastructureConflict with a message."""
    layers = [
        Layer(
            f"FlowRun {run.name}",
            run.spec.infrastructure,
            run.spec.infrastructure.type if run.spec.infrastructure else None,
        )
    ]
    if deployment is not None and run.spec.deployment_ref is not None:
        layers.append(
            Layer(
                f"Deployment {run.spec.deployment_ref.name}",
                deployment.infrastructure,
                deployment.infrastructure.type if deployment.infrastructure else None,
            )
        )
    pool_layer = (
        Layer(f"WorkPool {pool.name}", pool.spec.infrastructure, pool.spec.type) if pool else None
    )
    return merge_infrastructure(layers, pool=pool_layer, default_image=default_image)


def plan_launch(
    run: SupervisedRun,
    deployment: DeploymentSpec | None,
    deployment_error: str | None = None,
    *,
    default_image: str | None = None,
    pool: PoolView | None = None,
) -> LaunchRequest | MarkFailed:
    """The next attempt of `run`. `deployment` is its Deployment's spec (None when it has none
    or it was not found); `deployment_error` says why a named Deployment is unusable; `pool` is
    the run's work pool when it has one; `default_image` is the operator's --default-image, for
    container runs that name none."""
    ref = run.spec.deployment_ref
    if ref is not None and deployment is None:
        return MarkFailed(
            "DeploymentNotFound",
            deployment_error
            or f"Deployment {ref.name!r} not found in namespace {run.namespace!r}; "
            "create it (kflow deploy) or point spec.deploymentRef.name at an existing one.",
        )
    try:
        merged = effective_infrastructure(run, deployment, pool, default_image=default_image)
    except InfrastructureConflict as conflict:
        return MarkFailed("InfrastructureConflict", str(conflict))
    infrastructure = merged.infrastructure
    if infrastructure.type in CONTAINER_TYPES and infrastructure.image is None:
        return MarkFailed(
            "NoImage",
            f"A {infrastructure.type.value} run needs an image, and neither "
            "spec.infrastructure.image (of the FlowRun, its Deployment or its work pool) nor "
            "the operator's default image is set; set spec.infrastructure.image in the "
            "Deployment (or the ad-hoc FlowRun, or the WorkPool), or start the operator with "
            "--default-image (Helm chart value defaults.image).",
        )
    storage = infrastructure.result_storage
    env = {
        **(infrastructure.env or {}),
        **(storage_env(storage) if storage is not None else {}),
        RUN_NAMESPACE_ENV: run.namespace,
        RUN_NAME_ENV: run.name,
        RUN_UID_ENV: run.uid,
    }
    return LaunchRequest(
        namespace=run.namespace,
        name=run.name,
        uid=run.uid,
        attempt=run.attempt + 1,
        infrastructure=infrastructure,
        env=env,
        command=infrastructure.command,
        secret_env=storage_secret_env(storage) if storage is not None else {},
    )
