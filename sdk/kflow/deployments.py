"""Prefect's `prefect.deployments`: `run_deployment`, `deploy`, `serve` and the object
`flow.to_deployment(...)` returns, on kflow Deployment and FlowRun resources.

The work is done where it belongs (kflow.cluster.deployment_run, kflow.deployment_builder,
kflow.serving), imported on the first call: `import kflow` stays free of the Kubernetes and
pydantic imports these need. Prefect's 2.x `Deployment` class raises NotSupportedError
naming what to use instead (docs/porting.md).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from kflow.deployment_builder import RunnerDeployment
from kflow.unsupported import module_getattr

if TYPE_CHECKING:
    from kflow.cluster.deployment_run import DeploymentFlowRun

__all__ = [
    "RunnerDeployment",
    "arun_deployment",
    "aserve",
    "deploy",
    "run_deployment",
    "serve",
]


def run_deployment(
    name: str | UUID,
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
    """Start a run of the Deployment `name` and wait for it to end (`timeout` seconds at
    most; 0 returns at once). `name` is `"deployment"`, Prefect's `"flow/deployment"` (the
    part after `/` names it), or the Deployment's id (`metadata.uid`), as a UUID or its text.
    Inside a cluster flow run the new run is its subflow (`spec.parentRef`)."""
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


async def arun_deployment(
    name: str | UUID,
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
    """`run_deployment` for async code: the wait runs in a thread (with this context, so a run
    started inside a flow is still its subflow) while the event loop goes on."""
    return await asyncio.to_thread(
        run_deployment,
        name,
        parameters,
        scheduled_time,
        flow_run_name,
        timeout,
        poll_interval,
        tags,
        idempotency_key,
        work_queue_name,
        as_subflow,
        job_variables,
        namespace,
    )


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


async def aserve(*deployments: RunnerDeployment, **options: Any) -> None:
    """`serve` for async code (Prefect's `aserve`): the event loop keeps running while this
    machine serves the runs; cancelling the task (Ctrl-C under asyncio.run) stops serving."""
    from kflow.serving import aserve as aserve_deployments

    await aserve_deployments(*deployments, **options)


if not TYPE_CHECKING:
    __getattr__ = module_getattr(__name__)
