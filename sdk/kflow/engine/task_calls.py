"""How a task call becomes task runs: `task(...)` runs one now, `.submit()` hands one to the
flow's task runner, `.map()` submits one per element; every call is a task boundary, where
cancel and pause requests from outside are honoured."""

from __future__ import annotations

import threading
import time
from contextvars import copy_context
from functools import partial
from typing import TYPE_CHECKING, Any

from kflow.completion import Completion
from kflow.context import FlowRunContext, flow_run_ctx, task_run_ctx
from kflow.engine.cancellation import claim_thread
from kflow.engine.event_loop import loop_running
from kflow.engine.interrupts import CancelInterrupt
from kflow.engine.pausing import pause_blocking
from kflow.engine.task_engine import TaskRunExec
from kflow.exceptions import MappingLengthMismatch
from kflow.futures import TaskRunFuture, TaskRunFutureList, unmapped

if TYPE_CHECKING:
    from kflow.states import State
    from kflow.tasks import Task

_INFO = 20


def _enter(task: Task[Any, Any]) -> FlowRunContext:
    """The flow run this task call belongs to; Prefect's call restrictions (inside a flow, not
    inside another task) are enforced here."""
    if task_run_ctx.get() is not None:
        raise RuntimeError(
            f"Task {task.name!r} was called from inside another task. Tasks cannot be run from "
            "within tasks: call it from the flow, or call the plain function with "
            f"`{task.__name__}.fn(...)`."
        )
    flow_ctx = flow_run_ctx.get()
    if flow_ctx is None:
        raise RuntimeError(
            f"Task {task.name!r} was called outside a flow. Tasks can only be run inside a flow "
            f"run: call it from a @flow function, or call the plain function with "
            f"`{task.__name__}.fn(...)`."
        )
    check_boundary(flow_ctx)
    return flow_ctx


def check_boundary(flow_ctx: FlowRunContext) -> None:
    """What happens at every task boundary: honour cancel and pause requests from outside."""
    ctx: FlowRunContext | None = flow_ctx
    now = time.monotonic()
    while ctx is not None:
        control = ctx.control
        if now >= ctx.next_control_poll:
            ctx.next_control_poll = now + ctx.backend.control_poll_interval
            ctx.backend.poll_control(ctx.flow_run, control)
        if control.cancel_requested:
            if claim_thread(threading.get_ident()):
                raise CancelInterrupt()
            return  # the canceller raises it into this thread
        if control.pause_requested:
            control.pause_requested = False
            pause_blocking(ctx, timeout=3600)
        ctx = ctx.parent


def call_task(task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return_state = kwargs.pop("return_state", False)
    wait_for = kwargs.pop("wait_for", None)
    flow_ctx = _enter(task)
    params = task.call_signature().bind(args, kwargs)
    run = TaskRunExec(task, flow_ctx, params, wait_for)
    if task.isasync:
        if loop_running():
            return run.run_async_for_caller(return_state)
        import asyncio

        state = asyncio.run(run.run_async())
    else:
        state = run.run_sync()
    flow_ctx.child_states.append(state)
    if return_state:
        return state
    return state.result()


def submit_task(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> TaskRunFuture[Any]:
    wait_for = kwargs.pop("wait_for", None)
    kwargs.pop("return_state", None)
    flow_ctx = _enter(task)
    params = task.call_signature().bind(args, kwargs)
    return _submit(task, flow_ctx, params, wait_for)


def _submit(
    task: Task[Any, Any], flow_ctx: FlowRunContext, params: dict[str, Any], wait_for: Any
) -> TaskRunFuture[Any]:
    run = TaskRunExec(task, flow_ctx, params, wait_for)
    flow_ctx.logger.emit_fast(_INFO, "Submitted task run %r for execution.", run.task_run.name)
    runner = flow_ctx.task_runner
    if not runner.concurrent:
        runner.submit(run.run_in_worker)
        future: TaskRunFuture[Any] = TaskRunFuture(run.task_run, final=run.final_state)
        flow_ctx.child_futures.append(future)
        return future
    # Our own completion future, tracked before the hand-off: if a cancellation interrupts the
    # flow thread inside the executor's submit, the run that may already have started is still
    # waited for when the flow run ends.
    done: Completion[State[Any]] = Completion()
    future = TaskRunFuture(run.task_run, inner=done)
    flow_ctx.child_futures.append(future)
    # A partial, not a lambda: no closure and cells to allocate (and collect) per task run.
    runner.submit(partial(copy_context().run, run.run_to_completion, done))
    return future


def map_task(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> TaskRunFutureList[Any]:
    wait_for = kwargs.pop("wait_for", None)
    kwargs.pop("return_state", None)
    flow_ctx = _enter(task)
    signature = task.call_signature()
    params = signature.bind(args, kwargs)
    static: dict[str, Any] = {}
    mapped: dict[str, list[Any]] = {}
    for name, value in params.items():
        if type(value) is unmapped:
            static[name] = value.value
            continue
        if type(value) is TaskRunFuture:
            value = value.result()
        if isinstance(value, str | bytes | dict) or not hasattr(value, "__iter__"):
            static[name] = value
        else:
            mapped[name] = list(value)
    if not mapped:
        raise ValueError(
            f"Task {task.name!r}.map() got no iterable argument to map over; pass at least one "
            "list, tuple or other iterable (wrap arguments that must stay whole in unmapped())."
        )
    lengths = {name: len(values) for name, values in mapped.items()}
    if len(set(lengths.values())) > 1:
        raise MappingLengthMismatch(
            "Received iterable parameters with different lengths. Parameters for map must all "
            f"be the same length. Got lengths: {lengths}"
        )
    futures: TaskRunFutureList[Any] = TaskRunFutureList()
    for index in range(next(iter(lengths.values()))):
        call_params = dict(static)
        for name, values in mapped.items():
            call_params[name] = values[index]
        ordered = {name: call_params[name] for name in params}
        futures.append(_submit(task, flow_ctx, ordered, wait_for))
    return futures
