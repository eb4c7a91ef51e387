"""What to start for a run: the effective infrastructure, env and command, or why it cannot."""

from __future__ import annotations

from kflow.resources import DeploymentSpec, InfrastructureType

from kflow_operator.decisions.actions import MarkFailed
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.infrastructure import LaunchRequest

RUN_NAMESPACE_ENV = "KFLOW_FLOW_RUN_NAMESPACE"
RUN_NAME_ENV = "KFLOW_FLOW_RUN_NAME"
RUN_UID_ENV = "KFLOW_FLOW_RUN_UID"

CONTAINER_TYPES = frozenset({InfrastructureType.DOCKER, InfrastructureType.KUBERNETES_JOB})
"""Infrastructure that runs an image; `process` runs the operator host's own Python."""


def plan_launch(
    run: SupervisedRun,
    deployment: DeploymentSpec | None,
    deployment_error: str | None = None,
    *,
    default_image: str | None = None,
) -> LaunchRequest | MarkFailed:
    """The next attempt of `run`. `deployment` is its Deployment's spec (None when it has none
    or it was not found); `deployment_error` says why a named Deployment is unusable;
    `default_image` is the operator's --default-image, for container runs that name none."""
    ref = run.spec.deployment_ref
    if ref is not None and deployment is None:
        return MarkFailed(
            "DeploymentNotFound",
            deployment_error
            or f"Deployment {ref.name!r} not found in namespace {run.namespace!r}; "
            "create it (kflow deploy) or point spec.deploymentRef.name at an existing one.",
        )
    infrastructure = run.spec.infrastructure or (deployment.infrastructure if deployment else None)
    if infrastructure is None:
        return MarkFailed(
            "NoInfrastructure",
            "The run names neither a Deployment nor spec.infrastructure; nothing says where "
            "to run it.",
        )
    if infrastructure.type in CONTAINER_TYPES and infrastructure.image is None:
        if default_image is None:
            return MarkFailed(
                "NoImage",
                f"A {infrastructure.type.value} run needs an image, and neither "
                "spec.infrastructure.image nor the operator's default image is set; set "
                "spec.infrastructure.image in the Deployment (or the ad-hoc FlowRun), or start "
                "the operator with --default-image (Helm chart value defaults.image).",
            )
        infrastructure = infrastructure.model_copy(update={"image": default_image})
    env = {
        **(infrastructure.env or {}),
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
    )
