"""The layers of one run, built from its FlowRun, Deployment and WorkPool specs, and merged by
the one rule (kflow.resources.infrastructure_merge).

The operator's launch plan and `kflow flow-run inspect` must name and order the layers the same
way, or the CLI would show a different infrastructure from the one the run gets; this is the
SDK's copy of that construction (the SDK never imports the operator)."""

from __future__ import annotations

from kflow.resources.deployment import DeploymentSpec
from kflow.resources.flowrun import FlowRunSpec
from kflow.resources.infrastructure_merge import Layer, MergedInfrastructure, merge_infrastructure
from kflow.resources.workpool import WorkPoolSpec

OPERATOR_DEFAULTS = "operator defaults"


def run_layers(run_name: str, run: FlowRunSpec, deployment: DeploymentSpec | None) -> list[Layer]:
    """The FlowRun's layer, then its Deployment's (when it has one), highest first."""
    layers = [
        Layer(
            f"FlowRun {run_name}",
            run.infrastructure,
            run.infrastructure.type if run.infrastructure else None,
        )
    ]
    if deployment is not None and run.deployment_ref is not None:
        layers.append(
            Layer(
                f"Deployment {run.deployment_ref.name}",
                deployment.infrastructure,
                deployment.infrastructure.type if deployment.infrastructure else None,
            )
        )
    return layers


def pool_layer(pool_name: str, pool: WorkPoolSpec) -> Layer:
    return Layer(f"WorkPool {pool_name}", pool.infrastructure, pool.type)


def run_infrastructure(
    run_name: str,
    run: FlowRunSpec,
    deployment: DeploymentSpec | None,
    pool: tuple[str, WorkPoolSpec] | None,
    *,
    default_image: str | None = None,
) -> MergedInfrastructure:
    """FlowRun > Deployment > WorkPool > operator defaults; raises InfrastructureConflict."""
    return merge_infrastructure(
        run_layers(run_name, run, deployment),
        pool=pool_layer(*pool) if pool is not None else None,
        default_image=default_image,
    )
