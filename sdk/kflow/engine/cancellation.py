"""Cancelling flow runs from outside the engine: a signal handler, another thread, a backend.

`cancel_flow_run()` only sets flags and raises into the threads that run bodies; it takes no
lock (a signal handler interrupting code that holds the lock would deadlock), reading the
registry with a single C-level copy.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

from kflow.engine.interrupts import CancelInterrupt, raise_in_thread

if TYPE_CHECKING:
    from kflow.context import FlowRunContext

_active: dict[str, FlowRunContext] = {}


def register(ctx: FlowRunContext) -> None:
    _active[ctx.flow_run.id] = ctx


def unregister(ctx: FlowRunContext) -> None:
    _active.pop(ctx.flow_run.id, None)


def active_run(flow_run_id: str) -> FlowRunContext | None:
    return _active.get(flow_run_id)


def active_runs() -> list[FlowRunContext]:
    """Every flow run of this process now running (one C-level copy: signal-safe)."""
    return list(_active.values())


def _under(ctx: FlowRunContext, flow_run_id: str) -> bool:
    node: FlowRunContext | None = ctx
    while node is not None:
        if node.flow_run.id == flow_run_id:
            return True
        node = node.parent
    return False


_claimed_threads: dict[int, object] = {}


def claim_thread(thread_id: int) -> bool:
    """True for exactly one caller wanting to raise the cancellation into `thread_id`.

    The canceller (body running) and the engine (cancel seen at the body's start or at a task
    boundary) race; raising twice would let the second exception land in the engine's own
    handling or in the on_cancellation hooks. `dict.setdefault` is atomic under the GIL.
    """
    token = object()
    return _claimed_threads.setdefault(thread_id, token) is token


def release_thread(thread_id: int) -> None:
    """The outermost run in this thread is over: a later cancellation may interrupt it again."""
    _claimed_threads.pop(thread_id, None)


def cancel_flow_run(flow_run_id: str | None = None, reason: str | None = None) -> bool:
    """Cancel a flow run running in this process (None: every one), with its subflows.

    Safe to call from a signal handler or any thread. The body is interrupted: in the calling
    thread by raising here (so call it last in a signal handler), in other threads at their
    next bytecode boundary, in async flows by cancelling their asyncio task. The run then ends
    as CANCELLED after its `on_cancellation` hooks. Returns False if no such run is active.
    """
    targets = [
        ctx for ctx in list(_active.values()) if flow_run_id is None or _under(ctx, flow_run_id)
    ]
    if not targets:
        return False
    threads: set[int] = set()
    for ctx in targets:
        ctx.cancel_reason = reason
        ctx.control.cancel_requested = True
        ctx.control.reason = reason
        ctx.aborting = True
        if ctx.async_task is not None:
            with contextlib.suppress(RuntimeError):  # the loop may have closed already
                ctx.loop.call_soon_threadsafe(ctx.async_task.cancel)
        elif ctx.in_body and claim_thread(ctx.body_thread_id):
            threads.add(ctx.body_thread_id)
        threads.update(t for t in list(ctx.running_task_threads) if claim_thread(t))
    me = threading.get_ident()
    for thread_id in threads - {me}:
        raise_in_thread(thread_id, CancelInterrupt)
    if me in threads:
        raise CancelInterrupt()
    return True


def crash_flow_run(flow_run_id: str | None = None, reason: str | None = None) -> bool:
    """Stop a flow run of this process as CRASHED (its `on_crashed` hooks run).

    The counterpart of `cancel_flow_run` for a stop nobody asked for as a cancellation (a
    SIGTERM from an eviction or a deleted pod): the body is interrupted the same way, but the
    run did not end by anyone's request, so it is reported as Prefect reports it, Crashed.
    Same safety rules as `cancel_flow_run`; returns False if no such run is active.
    """
    for ctx in list(_active.values()):
        if flow_run_id is None or _under(ctx, flow_run_id):
            ctx.crash_reason = reason or "Flow run was terminated."
    return cancel_flow_run(flow_run_id, reason)
