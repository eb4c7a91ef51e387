"""Running one flow run: parameters, name, states, retries, timeout, final state, hooks.

`FlowRunExec` holds the steps shared by sync and async flows. A subflow run is the same thing
with a parent context: it also creates the parent's "mirror" task run and keeps its state in
step with the child's, and it reports to the parent's backend. What state an attempt of the body
ends in, and what becomes of its task runs then, is `attempt_endings`'.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kflow.backend import Backend, DeploymentInfo, FlowRun, TaskRun
from kflow.backend_selection import get_backend
from kflow.context import FlowRunContext, flow_run_ctx
from kflow.engine import cancellation, stop_signals
from kflow.engine.attempt_endings import AttemptEndings
from kflow.engine.hooks import run_hooks
from kflow.engine.interrupts import CancelInterrupt, DeadlineExceeded, SuspendInterrupt
from kflow.engine.run_names import render_run_name
from kflow.engine.timeouts import timeout_scope
from kflow.exceptions import ParameterTypeError
from kflow.futures import UpstreamFailed
from kflow.logging import (
    RunLogger,
    disable_log_prints,
    enable_log_prints,
    engine_logger,
    flow_run_logger,
    flush_console,
    setup_logging,
)
from kflow.names import new_id
from kflow.states import (
    AwaitingRetry,
    Cancelled,
    Failed,
    Pending,
    Retrying,
    Running,
    State,
    StateDetails,
    StateType,
)

if TYPE_CHECKING:
    from kflow.flows import Flow

_ERROR = 40
_INFO = 20


def outcome(state: State[Any], return_state: bool) -> Any:
    """What a flow call returns: its final state, or the value it stands for (raising)."""
    return state if return_state else state.result()


class FlowRunExec:
    """One flow run from creation to final state."""

    def __init__(
        self,
        flow: Flow[Any, Any],
        params: dict[str, Any],
        parent: FlowRunContext | None,
        *,
        flow_run_id: str | None = None,
        flow_run_name: str | None = None,
        backend: Backend | None = None,
        tags: list[str] | None = None,
        scheduled_time: float | None = None,
        existing: bool = False,
        invalid: ParameterTypeError | UpstreamFailed | None = None,
        deployment: DeploymentInfo | None = None,
    ) -> None:
        setup_logging()
        self.flow = flow
        self.parent = parent
        self.backend = parent.backend if parent is not None else (backend or get_backend())
        self.invalid = invalid
        if invalid is None and flow.should_validate_parameters and params:
            try:
                params = flow.validate_parameters(params)
            except ParameterTypeError as exc:
                self.invalid = exc
        self.params = params
        run_tags = set(flow.tags) | set(tags or ())
        if parent is not None:
            run_tags |= set(parent.flow_run.tags)
        flow_run = FlowRun(
            flow_run_id or new_id(),
            "",
            flow.name,
            params,
            flow_version=flow.version,
            tags=sorted(run_tags),
            parent_flow_run_id=parent.flow_run.id if parent is not None else None,
            scheduled_time=scheduled_time,
            existing=existing,
            deployment=deployment,
        )
        self.flow_run = flow_run
        self.ctx = ctx = FlowRunContext(
            flow,
            flow_run,
            self.backend,
            self.backend.control(flow_run),
            flow.task_runner.duplicate(),
            engine_logger(),  # replaced once the run has a name
            parent,
        )
        flow_run.name = flow_run_name or render_run_name(flow, self.params, ctx, self.invalid)
        flow_run.result_store = ctx.result_store
        ctx.logger = flow_run_logger(flow_run.name, flow_run.id, flow.name)
        self.endings = AttemptEndings(ctx)
        self.mirror: TaskRun | None = None
        self.handles_sigterm = False
        if parent is not None:
            index = parent.next_dynamic_key(flow.flow_key)
            self.mirror = TaskRun(
                new_id(),
                f"{flow.name}-{flow.key_hash}-{index}",
                flow.name,
                flow.flow_key,
                index,
                parent.flow_run.id,
                parameters=params,
                child_flow_run_id=flow_run.id,
            )
            flow_run.parent_task_run_id = self.mirror.id
            parent.backend.create_task_run(self.mirror)
            parent.logger.emit_fast(
                _INFO, "Created subflow run %r for flow %r", flow_run.name, flow.name
            )
            self.backend.create_flow_run(flow_run)
        else:
            self.backend.create_flow_run(flow_run)
            # Carries the run's id, so the run's own log (the local history's) has it too.
            RunLogger(engine_logger().logger, {"flow_run_id": flow_run.id}).emit_fast(
                _INFO, "Created flow run %r for flow %r", flow_run.name, flow.name
            )
        if not existing:
            self._propose(Pending())

    # -- shared steps ------------------------------------------------------------------
    def _details(self) -> StateDetails:
        return StateDetails(
            self.flow_run.id,
            parent_task_run_id=self.mirror.id if self.mirror is not None else None,
        )

    def _propose(self, state: State[Any]) -> State[Any]:
        state.state_details = self._details()
        in_force = self.backend.set_flow_run_state(self.flow_run, state)
        self.flow_run.state = in_force
        mirror = self.mirror
        if mirror is not None and self.parent is not None:
            mirrored = in_force.copy(
                state_details=StateDetails(
                    self.parent.flow_run.id, mirror.id, child_flow_run_id=self.flow_run.id
                )
            )
            mirror.state = self.parent.backend.set_task_run_state(mirror, mirrored)
        return in_force

    def _enter(self) -> Any:
        cancellation.register(self.ctx)
        if self.parent is None:
            self.handles_sigterm = stop_signals.install()
        if self.flow.log_prints:
            enable_log_prints()
        return flow_run_ctx.set(self.ctx)

    def _exit(self, token: Any) -> None:
        flow_run_ctx.reset(token)
        cancellation.unregister(self.ctx)
        if self.handles_sigterm:
            stop_signals.uninstall()
        parent = self.parent
        if parent is None or parent.body_thread_id != self.ctx.body_thread_id:
            cancellation.release_thread(self.ctx.body_thread_id)
        if self.flow.log_prints:
            disable_log_prints()
        self.ctx.task_runner.shutdown(wait=not self.ctx.aborting)

    def _invalid_state(self) -> State[Any]:
        invalid = self.invalid
        assert invalid is not None
        if isinstance(invalid, ParameterTypeError):
            self.ctx.logger.error("Validation of flow parameters failed with error: %s", invalid)
        return Failed(str(invalid), name="Failed", data=invalid)

    def _start(self) -> State[Any] | None:
        """Move to RUNNING; a state to end with when the backend refuses."""
        in_force = self._propose(Running())
        if in_force.type is not StateType.RUNNING:
            if in_force.type in (StateType.CANCELLING, StateType.CANCELLED):
                if self.ctx.crash_reason is not None:
                    return self.endings.cancelled()
                return Cancelled(in_force.message or "Flow run was cancelled before it started.")
            return in_force
        self.flow_run.start_time = time.time()
        if self.flow.on_running_hooks:
            run_hooks(
                self.flow.on_running_hooks, self.flow, self.flow_run, in_force, self.ctx.logger
            )
        return None

    def _new_attempt(self) -> None:
        ctx = self.ctx
        self.flow_run.run_count += 1
        ctx.child_states = []
        ctx.child_futures = []
        ctx.aborting = False

    def _retry_delay(self, state: State[Any]) -> float | None:
        flow = self.flow
        run_count = self.flow_run.run_count
        if state.type is not StateType.FAILED or run_count > flow.retries:
            return None
        if self.endings.cancel_requested():
            return None
        delays = flow.retry_delays
        delay = delays[min(run_count - 1, len(delays) - 1)]
        self._propose(AwaitingRetry(message=state.message))
        self.ctx.logger.info(
            "Received non-final state 'AwaitingRetry' when proposing final state %r and will "
            "attempt to run again...",
            state.name,
        )
        return delay

    def _finish(self, state: State[Any]) -> State[Any]:
        ctx = self.ctx
        if self.endings.cancel_requested() and state.type not in (
            StateType.CANCELLED,
            StateType.CRASHED,
        ):
            state = self.endings.cancelled()
        flow = self.flow
        if flow.persist_result and state.type is StateType.COMPLETED:
            try:
                ctx.result_store.write(f"{self.flow_run.id}/flow", state.data)
            except Exception as exc:  # one line naming the storage: no traceback
                ctx.logger.error("%s", exc)
                state = Failed(str(exc), data=exc.with_traceback(None))
        in_force = self._propose(state)
        self.flow_run.end_time = time.time()
        level = _ERROR if in_force.type in (StateType.FAILED, StateType.CRASHED) else _INFO
        ctx.logger.emit_fast(level, "Finished in state %s", in_force)
        hooks = {
            StateType.COMPLETED: flow.on_completion_hooks,
            StateType.FAILED: flow.on_failure_hooks,
            StateType.CANCELLED: flow.on_cancellation_hooks,
            StateType.CRASHED: flow.on_crashed_hooks,
        }.get(in_force.type)
        if hooks:
            run_hooks(hooks, flow, self.flow_run, in_force, ctx.logger)
        if self.parent is not None and self.mirror is not None and self.mirror.state is not None:
            self.parent.child_states.append(self.mirror.state)
        if self.parent is None:
            self.backend.top_level_run_ended()
            flush_console()  # the run's lines are all out when its call returns
        return in_force

    def _exit_if_terminated(self) -> None:
        """A SIGTERM ended this run (stop_signals): end the process as SIGTERM would have."""
        if self.handles_sigterm and stop_signals.stopped_by_signal(self.flow_run.id):
            raise SystemExit(stop_signals.EXIT_STATUS)

    # -- sync --------------------------------------------------------------------------
    def run_sync(self) -> State[Any]:
        token = self._enter()
        reraise: BaseException | None = None
        try:
            if self.invalid is not None:
                return self._finish(self._invalid_state())
            if self.parent is None:
                self.ctx.logger.emit_fast(_INFO, "Using task runner %r", self.ctx.task_runner.name)
            refused = self._start()
            if refused is not None:
                return self._finish(refused)
            while True:
                try:
                    state, reraise = self._attempt_sync()
                except CancelInterrupt:
                    # Raised while the engine was already handling the body's end.
                    state, reraise = self.endings.cancelled(), None
                delay = None if reraise is not None else self._retry_delay(state)
                if delay is None:
                    break
                if delay:
                    time.sleep(delay)
                self._propose(Retrying())
            final = self._finish(state)
        finally:
            self._exit(token)
        self._exit_if_terminated()
        if reraise is not None:
            raise reraise
        return final

    def _attempt_sync(self) -> tuple[State[Any], BaseException | None]:
        ctx = self.ctx
        flow = self.flow
        self._new_attempt()
        signature = flow.call_signature()
        scope = None
        ctx.in_body = True
        try:
            if self.endings.cancel_requested() and cancellation.claim_thread(ctx.body_thread_id):
                raise CancelInterrupt()
            if flow.timeout_seconds is None:
                retval = signature.call(flow.fn, self.params)
            else:
                with timeout_scope(flow.timeout_seconds) as scope:
                    retval = signature.call(flow.fn, self.params)
            ctx.in_body = False
            return self.endings.returned(retval), None
        except DeadlineExceeded as exc:
            ctx.in_body = False
            if scope is not None and scope.fired:
                return self.endings.timed_out(), None
            self.endings.abort_children()
            return Cancelled("Flow run was interrupted: its parent exceeded its timeout."), exc
        except CancelInterrupt as exc:
            ctx.in_body = False
            self.endings.abort_children()
            return self.endings.cancelled_attempt(exc)
        except SuspendInterrupt as exc:
            ctx.in_body = False
            return self.endings.suspended(), exc if self.parent is not None else None
        except Exception as exc:
            ctx.in_body = False
            return self.endings.raised(exc), None
        except BaseException as exc:
            ctx.in_body = False
            return self.endings.crashed(exc), exc
        finally:
            ctx.in_body = False

    # -- async -------------------------------------------------------------------------
    async def run_async_for_caller(self, return_state: bool) -> Any:
        return outcome(await self.run_async(), return_state)

    async def run_async(self) -> State[Any]:
        import asyncio

        token = self._enter()
        ctx = self.ctx
        ctx.loop = asyncio.get_running_loop()
        ctx.async_task = asyncio.current_task()
        reraise: BaseException | None = None
        try:
            if self.invalid is not None:
                return self._finish(self._invalid_state())
            if self.parent is None:
                ctx.logger.emit_fast(_INFO, "Using task runner %r", ctx.task_runner.name)
            refused = self._start()
            if refused is not None:
                return self._finish(refused)
            while True:
                state, reraise = await self._attempt_async()
                delay = None if reraise is not None else self._retry_delay(state)
                if delay is None:
                    break
                if delay:
                    await asyncio.sleep(delay)
                self._propose(Retrying())
            final = self._finish(state)
        finally:
            ctx.async_task = None
            self._exit(token)
        self._exit_if_terminated()
        if reraise is not None:
            raise reraise
        return final

    async def _attempt_async(self) -> tuple[State[Any], BaseException | None]:
        import asyncio

        ctx = self.ctx
        flow = self.flow
        self._new_attempt()
        signature = flow.call_signature()
        timeout = asyncio.timeout(flow.timeout_seconds)
        try:
            async with timeout:
                retval = await signature.call(flow.fn, self.params)
            if any(not future.done() for future in ctx.child_futures):
                await asyncio.to_thread(self.endings.wait_children)
            return self.endings.returned(retval), None
        except TimeoutError as exc:
            if timeout.expired():
                return self.endings.timed_out(), None
            return self.endings.raised(exc), None
        except CancelInterrupt as exc:
            self.endings.abort_children()
            return self.endings.cancelled_attempt(exc)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            self.endings.abort_children()
            if self.endings.cancel_requested():
                return self.endings.cancelled_attempt(exc)
            return Cancelled("Flow run's asyncio task was cancelled."), exc
        except SuspendInterrupt as exc:
            return self.endings.suspended(), exc if self.parent is not None else None
        except Exception as exc:
            return self.endings.raised(exc), None
        except BaseException as exc:
            return self.endings.crashed(exc), exc
