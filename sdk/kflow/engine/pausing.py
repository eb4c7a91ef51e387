"""What a pause does to the flow run it stops: states, waiting for the resume, suspension.

`kflow.pause` is the user's side (`pause_flow_run`, `resume_flow_run`); this is the engine's:
`pause_blocking` (also called at a task boundary when another process asked for a pause),
`pause_async` and `suspend`.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from kflow.engine import cancellation
from kflow.engine.interrupts import CancelInterrupt, SuspendInterrupt
from kflow.exceptions import FlowPauseTimeout, ReschedulingNotSupported
from kflow.states import Paused, Running, StateDetails

if TYPE_CHECKING:
    from kflow.context import FlowRunContext

INTERRUPT_WAIT_SECONDS = 5.0
"""How long a sync pause that saw the cancellation waits for the canceller's interrupt."""


def suspend(ctx: FlowRunContext, timeout: float) -> None:
    """End the process; on resume the operator reruns the same flow run from the start.

    Each suspension leaves a marker result (`<flow_run_id>/suspension-<n>`, in the flow's
    result store, beside the task results the rerun reads back): when the rerun reaches the
    same `pause_flow_run` call, the marker says it was already taken and resumed, so the run
    carries on instead of suspending again.
    """
    backend = ctx.backend
    if not backend.supports_reschedule:
        raise ReschedulingNotSupported(
            "pause_flow_run(reschedule=True) needs a run backed by the kflow operator: only "
            "there can the process end and the run start again on resume. This run uses the "
            f"{backend.name!r} backend (a local run). Use pause_flow_run(timeout=...) without "
            "reschedule to block in this process, or run the flow through a Deployment."
        )
    if not ctx.persist_result:
        raise ReschedulingNotSupported(
            "pause_flow_run(reschedule=True) needs persisted results, so the restarted run can "
            "read back what already ran: set @flow(persist_result=True)."
        )
    ctx.suspensions += 1
    marker = f"{ctx.flow_run.id}/suspension-{ctx.suspensions}"
    taken, _ = ctx.result_store.read(marker)
    if taken:
        ctx.logger.info("Resuming flow run execution!")
        return
    ctx.result_store.write(marker, True)
    backend.suspend_flow_run(ctx.flow_run, timeout)
    ctx.logger.info("Suspending flow run; it starts again when resumed.")
    raise SuspendInterrupt()


async def resumed_after_suspension() -> None:
    """What `await pause_flow_run(reschedule=True)` gives in a rerun that is past the pause."""


def _enter_pause(ctx: FlowRunContext, timeout: float) -> None:
    ctx.backend.prepare_pause(ctx.flow_run)
    state = Paused(state_details=StateDetails(ctx.flow_run.id, pause_timeout=timeout))
    ctx.flow_run.state = ctx.backend.set_flow_run_state(ctx.flow_run, state)
    ctx.logger.info("Pausing flow, execution will continue when this flow run is resumed.")


def _leave_pause(ctx: FlowRunContext, resumed: bool, timeout: float) -> None:
    if ctx.control.cancel_requested:
        _cancelled_while_paused(ctx)
    if not resumed:
        raise FlowPauseTimeout(
            f"Flow run was paused and not resumed within {timeout:g} second(s). Resume it "
            "with resume_flow_run(flow_run_id) or `kflow flow-run resume` before the timeout."
        )
    state = Running(state_details=StateDetails(ctx.flow_run.id))
    ctx.flow_run.state = ctx.backend.set_flow_run_state(ctx.flow_run, state)
    ctx.logger.info("Resuming flow run execution!")


def _cancelled_while_paused(ctx: FlowRunContext) -> None:
    """End the paused body with exactly one CancelInterrupt.

    The canceller (another thread) sets the cancel flag before it claims this thread and
    raises into it, so the flag may be seen here first. Raising here as well would leave the
    canceller's exception pending, to land later in the engine's own handling (the final state
    write) and skip the on_cancellation hooks. Whoever claims the thread raises; if the
    canceller did, its exception arrives at the next bytecode, so wait for it here, where
    nothing of a resumed run has happened yet.
    """
    if ctx.async_task is not None or cancellation.claim_thread(threading.get_ident()):
        raise CancelInterrupt()
    deadline = time.monotonic() + INTERRUPT_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.001)
    raise CancelInterrupt()


def pause_blocking(ctx: FlowRunContext, timeout: float) -> None:
    _enter_pause(ctx, timeout)
    resumed = ctx.backend.wait_for_resume(ctx.flow_run, timeout)
    _leave_pause(ctx, resumed, timeout)


async def pause_async(ctx: FlowRunContext, timeout: float) -> None:
    import asyncio  # only async flows pay for asyncio (about 20 ms to import)

    _enter_pause(ctx, timeout)
    resumed = await asyncio.to_thread(ctx.backend.wait_for_resume, ctx.flow_run, timeout)
    _leave_pause(ctx, resumed, timeout)
