"""Prefect's `flow.serve(...)` / `kflow.serve(...)`: run a flow's scheduled and requested runs
from this machine until interrupted.

Prefect serves from a long-lived process with its own scheduler. kflow's scheduler is the
operator, so serving is: apply the Deployment(s) into a `process` work pool (created if
missing; `serve-<first deployment's name>` unless `work_pool_name=` names another), each run
starting in the current directory, then run `kflow worker start --pool` for that pool in the
foreground — the operator restricted to that pool, which launches the runs here as local
processes. Ctrl-C stops the worker and `serve` returns; the Deployments stay (their runs wait,
`AwaitingWorker`, until a worker serves the pool again).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kflow.deployment_builder import (
    DeploymentBuildError,
    RunnerDeployment,
    apply,
    manifests,
    refuse_options,
    to_deployment,
)

if TYPE_CHECKING:
    from kflow.flows import Flow

STOP_STEPS: tuple[tuple[signal.Signals | None, float], ...] = (
    (None, 15.0),
    (signal.SIGINT, 15.0),
    (signal.SIGTERM, 10.0),
)
"""After Ctrl-C: the signal sent to the worker (None: none, it had the terminal's) and how
long it then has to exit."""
_IGNORED = ("print_starting_message",)


def serve_pool_name(deployments: tuple[RunnerDeployment, ...]) -> str:
    return f"serve-{deployments[0].name}"[:63].rstrip("-.").replace(".", "-")


def served(
    deployments: tuple[RunnerDeployment, ...], pool: str, namespace: str
) -> list[RunnerDeployment]:
    """The deployments as they join the serving pool: runs start in the current directory."""
    result = []
    for deployment in deployments:
        if deployment.work_pool_name:
            raise DeploymentBuildError(
                f"deployment {deployment.name} names work pool {deployment.work_pool_name}; "
                "serve() runs deployments from this machine (a process pool of its own): "
                "leave work_pool_name out, or apply it with kflow.deploy(...)"
            )
        if deployment.namespace and deployment.namespace != namespace:
            raise DeploymentBuildError(
                f"deployment {deployment.name} is for namespace {deployment.namespace}, but "
                f"serve() serves namespace {namespace}; a worker serves one namespace"
            )
        variables = {"working_dir": str(Path.cwd()), **deployment.job_variables}
        result.append(
            dataclasses.replace(
                deployment, work_pool_name=pool, job_variables=variables, namespace=namespace
            )
        )
    return result


def serve(
    *deployments: RunnerDeployment,
    work_pool_name: str | None = None,
    namespace: str | None = None,
    **prefect_options: Any,
) -> None:
    _run_foreground(_prepare(deployments, work_pool_name, namespace, prefect_options))


async def aserve(
    *deployments: RunnerDeployment,
    work_pool_name: str | None = None,
    namespace: str | None = None,
    **prefect_options: Any,
) -> None:
    """`serve` for async code: the event loop keeps running while the worker serves; the
    task's cancellation (Ctrl-C under asyncio.run) stops the worker as Ctrl-C does `serve`."""
    command = await asyncio.to_thread(
        _prepare, deployments, work_pool_name, namespace, prefect_options
    )
    await _run_foreground_async(command)


def _prepare(
    deployments: tuple[RunnerDeployment, ...],
    work_pool_name: str | None,
    namespace: str | None,
    prefect_options: dict[str, Any],
) -> list[str]:
    """Apply the deployments and their pool; the worker's command line."""
    refuse_options("serve", {k: v for k, v in prefect_options.items() if k not in _IGNORED})
    if not deployments:
        raise DeploymentBuildError("serve() needs at least one flow.to_deployment(...)")
    if importlib.util.find_spec("kflow_operator") is None:
        raise DeploymentBuildError(
            "serve() runs the kflow operator as this machine's worker, and it is not installed "
            f"in this Python ({sys.executable}); install kflow with its operator here"
        )
    from kflow.cli.worker import operator_command

    pool = work_pool_name or serve_pool_name(deployments)
    target = namespace or deployments[0].namespace or _context_namespace()
    pool_entry = {"name": pool, "type": "process", "namespace": target}
    apply(manifests(served(deployments, pool, target), pools=[pool_entry], caller="kflow.serve()"))
    print(
        f"kflow serve: serving {', '.join(d.name for d in deployments)} from work pool {pool} "
        f"in namespace {target} (Ctrl-C stops)",
        flush=True,
    )
    return operator_command([pool], target, [])


def _context_namespace() -> str:
    from kflow.cluster.kubernetes_client import default_namespace

    return default_namespace()


def _run_foreground(command: list[str]) -> None:
    """Run the worker until it exits or Ctrl-C. A terminal's Ctrl-C reaches the worker too
    (one process group), so it is first given time to leave cleanly on its own (its entry
    removed from the pool's workers); one that did not get it (SIGINT sent to this process
    only) is sent SIGINT, then SIGTERM, then killed, each after a bounded wait."""
    worker = subprocess.Popen(command)
    try:
        worker.wait()
    except KeyboardInterrupt:
        for stop, grace in STOP_STEPS:
            if stop is not None:
                worker.send_signal(stop)
            try:
                worker.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue
        worker.kill()
        worker.wait()


async def _run_foreground_async(command: list[str]) -> None:
    """`_run_foreground` on the event loop: cancelled, it stops the worker by the same steps
    (each wait bounded) and then lets the cancellation go on."""
    worker = await asyncio.create_subprocess_exec(*command)
    try:
        await worker.wait()
    except asyncio.CancelledError:
        await asyncio.shield(_stop_async(worker))
        raise


async def _stop_async(worker: asyncio.subprocess.Process) -> None:
    for stop, grace in STOP_STEPS:
        if stop is not None and worker.returncode is None:
            worker.send_signal(stop)
        try:
            await asyncio.wait_for(worker.wait(), grace)
            return
        except TimeoutError:
            continue
    worker.kill()
    await worker.wait()


_SERVE_OPTIONS = ("limit", "webserver", "pause_on_shutdown", *_IGNORED)


def flow_serve(
    flow: Flow[Any, Any],
    name: str | None = None,
    work_pool_name: str | None = None,
    namespace: str | None = None,
    **options: Any,
) -> None:
    """`flow.serve(...)`: to_deployment's options, then serve's (name: the flow's)."""
    serve_options = {k: options.pop(k) for k in _SERVE_OPTIONS if k in options}
    deployment = to_deployment(flow, name or flow.name, namespace=namespace, **options)
    serve(deployment, work_pool_name=work_pool_name, namespace=namespace, **serve_options)
