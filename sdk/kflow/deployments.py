"""Prefect's `prefect.deployments`: `run_deployment`, `deploy`, `serve` and the object
`flow.to_deployment(...)` returns, on kflow Deployment and FlowRun resources.

The work is done where it belongs (kflow.cluster.deployment_run, kflow.deployment_builder,
kflow.serving), imported on the first call: `import kflow` stays free of the Kubernetes and
pydantic imports these need. Prefect's 2.x `Deployment` class raises NotSupportedError
naming what to use instead (docs/porting.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from kflow.deployment_builder import RunnerDeployment
from kflow.unsupported import module_getattr

if TYPE_CHECKING:
    from kflow.cluster.deployment_run import DeploymentFlowRun

__all__ = ["RunnerDeployment", "deploy", "run_deployment", "serve"]


def run_deployment(
    name: str,
    parameters: dict[str, Any] | None = None,
    scheduled_time: datetime | None = None,
    flow_run_name: str | None = None,
    timeout: float | None = None,
    poll_interval: float = 1.0,
    tags: list[str] | None = None,
    idempotency_key: str | None = None,
    work_queue_name: str | None = None,
    as_subflow: bool = True,
    job_variables: dict[str, Any] | None = None,
    namespace: str | None = None,
) -> DeploymentFlowRun:
    """Start a run of the Deployment `name` (`"deployment"` or Prefect's `"flow/deployment"`:
    the part after `/` names it) and wait for it to end (`timeout` seconds at most; 0 returns
    at once). Inside a cluster flow run the new run is its subflow (`spec.parentRef`)."""
    from kflow.cluster.deployment_run import RunRequest
    from kflow.cluster.deployment_run import run_deployment as run
    from kflow.deployment_builder import refuse_options

    refuse_options("run_deployment", {"work_queue_name": work_queue_name})
    request = RunRequest(
        parameters=parameters or {},
        scheduled_time=scheduled_time,
        flow_run_name=flow_run_name,
        tags=tags,
        idempotency_key=idempotency_key,
        as_subflow=as_subflow,
        job_variables=job_variables,
    )
    return run(name, request, timeout, poll_interval, namespace)


def deploy(
    *deployments: RunnerDeployment,
    work_pool_name: str | None = None,
    image: str | None = None,
    **prefect_options: Any,
) -> list[str]:
    """Apply `flow.to_deployment(...)` objects as Deployments in their work pool, checked as
    `kflow deploy` checks kflow.yaml; the `namespace/name` of each."""
    from kflow.deployment_builder import deploy as apply_deployments

    return apply_deployments(
        *deployments, work_pool_name=work_pool_name, image=image, **prefect_options
    )


def serve(*deployments: RunnerDeployment, **options: Any) -> None:
    """Apply the deployments into a process work pool and serve its runs from this machine
    until Ctrl-C (kflow.serving)."""
    from kflow.serving import serve as serve_deployments

    serve_deployments(*deployments, **options)


if not TYPE_CHECKING:
    __getattr__ = module_getattr(__name__)
