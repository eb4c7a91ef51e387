"""How a flow becomes a flow run: a call of a `@flow` (a subflow inside another flow), or
`run_flow` for a run that already exists (`kflow execute`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kflow.context import flow_run_ctx, task_run_ctx
from kflow.engine.event_loop import loop_running
from kflow.engine.flow_engine import FlowRunExec, outcome
from kflow.engine.resolution import has_unfinished, resolve_inputs
from kflow.engine.task_calls import check_boundary
from kflow.exceptions import ParameterTypeError
from kflow.futures import UpstreamFailed

if TYPE_CHECKING:
    from kflow.backend import Backend, DeploymentInfo
    from kflow.context import FlowRunContext
    from kflow.flows import Flow
    from kflow.states import State


def call_flow(flow: Flow[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return_state = kwargs.pop("return_state", False)
    task_ctx = task_run_ctx.get()
    if task_ctx is not None:
        raise RuntimeError(
            f"Flow {flow.name!r} was called from inside task {task_ctx.task.name!r}. Flows "
            "cannot be run from within tasks: call it from the flow as a subflow instead."
        )
    parent = flow_run_ctx.get()
    params = flow.call_signature().bind(args, kwargs)
    upstream_failed: UpstreamFailed | None = None
    if parent is not None:
        check_boundary(parent)
        if flow.isasync and loop_running() and has_unfinished(params):
            return _run_async_subflow_when_inputs_ready(flow, params, parent, return_state)
        params, upstream_failed = _subflow_inputs(params)
    run = FlowRunExec(flow, params, parent, invalid=upstream_failed)
    if flow.isasync:
        if parent is not None and not loop_running():
            import asyncio

            return outcome(asyncio.run(run.run_async()), return_state)
        return run.run_async_for_caller(return_state)
    return outcome(run.run_sync(), return_state)


def _subflow_inputs(params: dict[str, Any]) -> tuple[dict[str, Any], UpstreamFailed | None]:
    """Futures and states handed to a subflow arrive as their values, as in Prefect; a failed
    upstream ends the subflow run FAILED before its body runs, as for a task."""
    try:
        return {name: resolve_inputs(value) for name, value in params.items()}, None
    except UpstreamFailed as exc:
        return params, exc


async def _run_async_subflow_when_inputs_ready(
    flow: Flow[Any, Any], params: dict[str, Any], parent: FlowRunContext, return_state: bool
) -> Any:
    """An async subflow whose inputs are still running waits for them in a worker thread, so
    the parent's event loop keeps running meanwhile."""
    import asyncio

    params, upstream_failed = await asyncio.to_thread(_subflow_inputs, params)
    run = FlowRunExec(flow, params, parent, invalid=upstream_failed)
    return await run.run_async_for_caller(return_state)


def run_flow(
    flow: Flow[Any, Any],
    parameters: dict[str, Any] | None = None,
    *,
    flow_run_id: str | None = None,
    flow_run_name: str | None = None,
    backend: Backend | None = None,
    tags: list[str] | None = None,
    scheduled_time: float | None = None,
    existing: bool = True,
    deployment: DeploymentInfo | None = None,
) -> State[Any]:
    """Run `flow` as a given, pre-existing flow run (what `kflow execute` does for a FlowRun).

    `parameters` is a JSON-like dict by parameter name; binding or validation errors end the
    run as FAILED (never RUNNING) with a message naming the parameter. Returns the final
    state; never raises for a failed run.
    """
    raw = dict(parameters or {})
    invalid: ParameterTypeError | None = None
    try:
        params = flow.call_signature().bind((), raw)
    except ParameterTypeError as exc:
        invalid, params = exc, raw
    run = FlowRunExec(
        flow,
        params,
        None,
        flow_run_id=flow_run_id,
        flow_run_name=flow_run_name,
        backend=backend,
        tags=tags,
        scheduled_time=scheduled_time,
        existing=existing,
        invalid=invalid,
        deployment=deployment,
    )
    if flow.isasync:
        import asyncio

        return asyncio.run(run.run_async())
    return run.run_sync()
