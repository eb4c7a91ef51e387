"""Pausing a flow run until someone resumes it, possibly from another process.

`pause_flow_run(timeout=...)` inside a flow blocks (awaitable in an async flow) until
`resume_flow_run(flow_run_id)` is called — here, in another thread, or in another process
through the backend — or fails the run when the timeout passes. `reschedule=True` ends the
process instead and needs a cluster backend (the operator restarts the run on resume).
What a pause does to the run is the engine's part, in `kflow.engine.pausing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kflow.context import flow_run_ctx, task_run_ctx
from kflow.engine.cancellation import active_run
from kflow.engine.event_loop import loop_running
from kflow.engine.pausing import pause_async, pause_blocking, resumed_after_suspension, suspend
from kflow.exceptions import FlowPauseTimeout

if TYPE_CHECKING:
    from kflow.backend import Backend

DEFAULT_PAUSE_TIMEOUT = 3600.0


def pause_flow_run(
    timeout: float = DEFAULT_PAUSE_TIMEOUT,
    reschedule: bool = False,
    flow_run_id: str | None = None,
) -> Any:
    """Pause the current flow run (or, with `flow_run_id`, ask another one to pause).

    Returns None in a sync flow once resumed, an awaitable in an async flow. Raises
    FlowPauseTimeout in the flow when `timeout` seconds pass without a resume.
    """
    ctx = flow_run_ctx.get()
    if flow_run_id is not None and (ctx is None or ctx.flow_run.id != flow_run_id):
        _backend_of(flow_run_id).request_pause(flow_run_id)
        return None
    if ctx is None:
        raise RuntimeError(
            "pause_flow_run() was called outside a flow run. Call it inside a @flow function, "
            "or pass flow_run_id=... to pause another run."
        )
    if task_run_ctx.get() is not None:
        raise RuntimeError(
            "pause_flow_run() was called inside a task. Task runs cannot be paused: call it in "
            "the flow, between tasks."
        )
    if reschedule:
        suspend(ctx, timeout)
        return resumed_after_suspension() if loop_running() else None

    if loop_running():
        return pause_async(ctx, timeout)
    pause_blocking(ctx, timeout)
    return None


def resume_flow_run(flow_run_id: str) -> None:
    """Resume a paused flow run, in this process or another one (through the backend)."""
    _backend_of(flow_run_id).resume_flow_run(flow_run_id)


def _backend_of(flow_run_id: str) -> Backend:
    """The backend of the run when it runs in this process, else the default one."""
    target = active_run(flow_run_id)
    if target is not None:
        return target.backend
    # Start-up, not a cycle: the default backend brings the SQLite history (sqlite3, socket,
    # pathlib; about 10 ms) that `import kflow` must not pay; only reaching another process's
    # run needs it.
    from kflow.backend_selection import get_backend

    return get_backend()


__all__ = ["DEFAULT_PAUSE_TIMEOUT", "FlowPauseTimeout", "pause_flow_run", "resume_flow_run"]
