"""The state one attempt of a flow body ends in, and what becomes of its task runs on the way.

The sync and async attempt loops of `flow_engine` differ only in how the body's end reaches
them (an exception raised into the body's thread, an asyncio cancellation). What that end means
— which state, and whether the attempt's submitted task runs are waited for or stopped first —
is the same for both, so it is decided here once.
"""

from __future__ import annotations

import time
from typing import Any

from kflow.context import FlowRunContext
from kflow.engine import cancellation
from kflow.engine.final_state import final_state
from kflow.engine.interrupts import CancelInterrupt, raise_in_thread
from kflow.engine.tracebacks import format_user_exception
from kflow.states import Cancelled, Crashed, Failed, State, Suspended, TimedOut

#: How long a torn-down run (timeout, cancellation) waits for interrupted task runs to stop.
ABORT_GRACE_SECONDS = 5.0


class AttemptEndings:
    """Turns the way a flow run's body ended into the attempt's state."""

    def __init__(self, ctx: FlowRunContext) -> None:
        self.ctx = ctx

    def cancel_requested(self) -> bool:
        """Whether this run or any run above it was asked to cancel."""
        node: FlowRunContext | None = self.ctx
        while node is not None:
            if node.control.cancel_requested:
                return True
            node = node.parent
        return False

    def cancelled(self) -> State[Any]:
        """The state of a run interrupted from outside: CRASHED when no one asked to cancel."""
        if self.ctx.crash_reason is not None:
            return Crashed(self.ctx.crash_reason)
        reason = self.ctx.cancel_reason or self.ctx.control.reason
        return Cancelled(reason or "Flow run was cancelled.")

    def cancelled_attempt(self, exc: BaseException) -> tuple[State[Any], BaseException | None]:
        """A cancellation stopped the body (its task runs already aborted); a subflow of a
        cancelled parent re-raises it so the parent's body stops too."""
        parent = self.ctx.parent
        parent_cancelled = parent is not None and parent.control.cancel_requested
        return self.cancelled(), exc if parent_cancelled else None

    def returned(self, retval: Any) -> State[Any]:
        self.wait_children()
        return final_state(retval, self._child_states())

    def raised(self, exc: Exception) -> State[Any]:
        if self.cancel_requested():
            self.abort_children()
            return self.cancelled()
        self.ctx.logger.error(
            "Encountered exception during execution:\n%s", format_user_exception(exc)
        )
        self.wait_children()
        return Failed(f"Flow run encountered an exception. {type(exc).__name__}: {exc}", data=exc)

    def timed_out(self) -> State[Any]:
        self.abort_children()
        message = f"Flow run exceeded timeout of {self.ctx.flow.timeout_seconds} second(s)"
        self.ctx.logger.error(message)
        return TimedOut(message, data=TimeoutError(message))

    def suspended(self) -> State[Any]:
        self.wait_children()
        return Suspended("Flow run suspended until resumed.")

    def crashed(self, exc: BaseException) -> State[Any]:
        self.abort_children()
        return Crashed(f"Execution was interrupted by {type(exc).__name__}.", data=exc)

    # -- the attempt's task runs ---------------------------------------------------------
    def wait_children(self) -> None:
        """Wait for every submitted task run; a cancellation meanwhile interrupts them."""
        for future in list(self.ctx.child_futures):
            while True:
                try:
                    future.wait()
                    break
                except CancelInterrupt:
                    self._interrupt_children()

    def abort_children(self) -> None:
        """Stop submitted task runs (timeout, cancellation); wait a bounded time for them."""
        self._interrupt_children()
        deadline = time.monotonic() + ABORT_GRACE_SECONDS
        for future in list(self.ctx.child_futures):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                future.wait(left)
            except CancelInterrupt:
                continue

    def _interrupt_children(self) -> None:
        ctx = self.ctx
        ctx.aborting = True
        for thread_id in list(ctx.running_task_threads):
            if cancellation.claim_thread(thread_id):
                raise_in_thread(thread_id, CancelInterrupt)

    def _child_states(self) -> list[State[Any]]:
        ctx = self.ctx
        return ctx.child_states + [future.state for future in ctx.child_futures]
