"""Running one task run: checks, dependencies, states, retries, timeout, result, hooks.

`TaskRunExec` holds the steps shared by sync and async task bodies; `run_sync` and
`run_async` only differ in how they call the body, sleep between retries and enforce the
timeout. This is the hot path: keep per-call work to attribute reads and a few allocations.
"""

from __future__ import annotations

import random
import threading
import time
from contextvars import copy_context
from typing import TYPE_CHECKING, Any

from kflow.backend import TaskRun
from kflow.context import FlowRunContext, TaskRunContext, task_run_ctx
from kflow.engine import task_cache, task_results
from kflow.engine.cancellation import release_thread
from kflow.engine.hooks import await_outside_loop, run_hooks
from kflow.engine.interrupts import CancelInterrupt, DeadlineExceeded
from kflow.engine.resolution import SCALARS, has_unfinished, resolve_inputs, wait_for_all
from kflow.engine.timeouts import timeout_scope
from kflow.engine.tracebacks import format_user_exception
from kflow.exceptions import ResultStorageError
from kflow.futures import TaskRunFuture, UpstreamFailed
from kflow.logging import task_run_logger
from kflow.names import new_id
from kflow.states import (
    AwaitingRetry,
    Cached,
    Cancelled,
    Completed,
    Crashed,
    Failed,
    Retrying,
    Running,
    State,
    StateDetails,
    StateType,
    TimedOut,
)

if TYPE_CHECKING:
    from kflow.completion import Completion
    from kflow.results import ResultStore
    from kflow.tasks import Task

_ERROR = 40
_INFO = 20


class TaskRunExec:
    """One task run from creation to final state."""

    __slots__ = (
        "backend",
        "cache_key",
        "final_state",
        "flow_ctx",
        "logger",
        "params",
        "persist",
        "result_key",
        "store",
        "task",
        "task_run",
        "wait_for",
    )

    def __init__(
        self,
        task: Task[Any, Any],
        flow_ctx: FlowRunContext,
        params: dict[str, Any],
        wait_for: Any,
    ) -> None:
        self.task = task
        self.flow_ctx = flow_ctx
        self.params = params
        self.wait_for = wait_for
        self.backend = flow_ctx.backend
        key = task.task_key
        index = flow_ctx.next_dynamic_key(key)
        flow_run_id = flow_ctx.flow_run.id
        if task.task_run_name is None:
            name = f"{task.name}-{task.key_hash}-{index}"
        elif callable(task.task_run_name):
            name = task.task_run_name()
        else:
            name = task.task_run_name.format(**params)
        task_run = TaskRun(
            new_id(),
            name,
            task.name,
            key,
            index,
            flow_run_id,
            parameters=params,
            tags=sorted(task.tags.union(flow_ctx.flow_run.tags))
            if task.tags
            else flow_ctx.flow_run.tags,
        )
        self.task_run = task_run
        persist = task.persist_result
        self.persist = flow_ctx.persist_result if persist is None else persist
        self.result_key = f"{flow_run_id}/{key}-{index}"
        self.cache_key: str | None = None
        self.store: ResultStore | None = None
        self.final_state: State[Any] | None = None
        self.backend.create_task_run(task_run)
        flow_ctx.logger.emit_fast(_INFO, "Created task run %r for task %r", name, task.name)
        self.logger = task_run_logger(name, task_run.id, flow_run_id)

    # -- shared steps ------------------------------------------------------------------
    def _details(self) -> StateDetails:
        return StateDetails(self.flow_ctx.flow_run.id, self.task_run.id)

    def _propose(self, state: State[Any]) -> State[Any]:
        in_force = self.backend.set_task_run_state(self.task_run, state)
        self.task_run.state = in_force
        return in_force

    def _begin(self) -> State[Any] | None:
        """Resolve inputs and move to RUNNING; returns a final state when the body must not run."""
        try:
            if self.wait_for:
                wait_for_all(self.wait_for)
            params = self.params
            for name, value in params.items():
                if type(value) not in SCALARS:
                    params[name] = resolve_inputs(value)
        except UpstreamFailed as exc:
            return Failed(str(exc), data=exc, state_details=self._details())
        if self.persist or self.task.cache_policy is not None:
            stored = self._look_up_stored()
            if stored is not None:
                return stored
        in_force = self._propose(Running(state_details=self._details()))
        if in_force.type is not StateType.RUNNING:
            if in_force.type is StateType.CANCELLING:
                return Cancelled(in_force.message, state_details=self._details())
            return in_force
        self.task_run.start_time = time.time()
        return None

    def _look_up_stored(self) -> State[Any] | None:
        """A final state from the result store: the run's persisted result (its flow run is
        rerun, or its result_storage_key names a stored result), its cache entry, or the
        failure of a storage that cannot be used. Runs in the task-run context, as a
        cache_key_fn or result_storage_key may read it."""
        task = self.task
        ctx = self._task_context()
        token = task_run_ctx.set(ctx)
        try:
            self.store = store = task_results.result_store(task, self.flow_ctx)
            exact = task.result_storage_key is not None
            if exact:
                self.result_key = task_results.format_storage_key(task, self.params)
            if self.persist:
                found, value = task_results.read_persisted(
                    store, self.result_key, exact, self.logger
                )
                if found:
                    return Cached(value, state_details=self._details())
            if task.cache_policy is not None:
                self.cache_key = key = task_cache.compute_key(
                    task.cache_policy, ctx, self.params, self.logger
                )
                if key is not None and not task.refresh_cache:
                    found, value = task_cache.lookup(store, key, self.logger)
                    if found:
                        return Cached(value, state_details=self._details())
        except ResultStorageError as exc:
            return self._not_stored(exc)
        finally:
            task_run_ctx.reset(token)
        return None

    def _from_return(self, value: Any) -> State[Any]:
        if isinstance(value, State):
            value.state_details = self._details()
            return value
        if type(value) is TaskRunFuture:
            return self._from_return(value.wait())
        return Completed(data=value, state_details=self._details())

    def _from_exception(self, exc: Exception) -> State[Any]:
        self.logger.error("Encountered exception during execution:\n%s", format_user_exception(exc))
        return Failed("Task run encountered an exception.", data=exc, state_details=self._details())

    def _timed_out(self) -> State[Any]:
        message = f"Task run exceeded timeout of {self.task.timeout_seconds} second(s)"
        self.logger.error(message)
        return TimedOut(message, data=TimeoutError(message), state_details=self._details())

    def _interrupted(self, why: str) -> State[Any]:
        return Cancelled(f"Task run was interrupted: {why}.", state_details=self._details())

    def _retry_delay(self, state: State[Any]) -> float | None:
        """Seconds to wait before the next attempt, or None when this state is final."""
        task = self.task
        run_count = self.task_run.run_count
        if state.type is not StateType.FAILED or run_count > task.retries:
            return None
        if task.retry_condition_fn is not None and not self._retry_wanted(state):
            return None
        delays = task.retry_delays
        delay = delays[min(run_count - 1, len(delays) - 1)]
        if task.retry_jitter_factor:
            spread = delay * task.retry_jitter_factor
            delay = max(0.0, random.uniform(delay - spread, delay + spread))
        self._propose(
            AwaitingRetry(state_details=self._details(), data=None, message=state.message)
        )
        self.logger.info(
            "Received non-final state 'AwaitingRetry' when proposing final state %r and will "
            "attempt to run again...",
            state.name,
        )
        return delay

    def _retry_wanted(self, state: State[Any]) -> bool:
        """What the task's retry_condition_fn says; one that raises means no retry (Prefect)."""
        condition = self.task.retry_condition_fn
        assert condition is not None
        try:
            wanted = condition(self.task, self.task_run, state)
            if hasattr(wanted, "__await__"):
                wanted = await_outside_loop(wanted)
        except Exception as exc:
            self.logger.error(
                "An error was encountered while running `retry_condition_fn` %r for task %r; "
                "not retrying: %s: %s",
                getattr(condition, "__name__", condition),
                self.task.name,
                type(exc).__name__,
                exc,
            )
            return False
        return bool(wanted)

    def _finish(self, state: State[Any]) -> State[Any]:
        if (
            (self.persist or self.cache_key is not None)
            and state.type is StateType.COMPLETED
            and state.name != "Cached"
        ):
            state = self._persist(state)
        in_force = self._propose(state)
        self.task_run.end_time = time.time()
        self.final_state = in_force
        level = _ERROR if in_force.type in (StateType.FAILED, StateType.CRASHED) else _INFO
        self.logger.emit_fast(level, "Finished in state %s", in_force)
        task = self.task
        if in_force.type is StateType.COMPLETED and task.on_completion_hooks:
            run_hooks(task.on_completion_hooks, task, self.task_run, in_force, self.logger)
        elif in_force.type is StateType.FAILED and task.on_failure_hooks:
            run_hooks(task.on_failure_hooks, task, self.task_run, in_force, self.logger)
        return in_force

    def _persist(self, state: State[Any]) -> State[Any]:
        """The completed state, or a failed one when its result could not be kept: a run
        whose result was asked to be persisted does not complete without it (as Prefect)."""
        task = self.task
        store = self.store or task_results.result_store(task, self.flow_ctx)
        try:
            if self.persist:
                exact = task.result_storage_key is not None
                store.write(self.result_key, state.data, exact=exact)
            if self.cache_key is not None:
                task_cache.store(store, self.cache_key, state.data, task.cache_expiration)
        except Exception as exc:
            return self._not_stored(exc)
        return state

    def _not_stored(self, exc: Exception) -> State[Any]:
        """One error line, no traceback: the message names the storage and what to check
        (the engine's frames would tell a user nothing when the state's result re-raises)."""
        self.logger.error("%s", exc)
        return Failed(str(exc), data=exc.with_traceback(None), state_details=self._details())

    def _task_context(self) -> TaskRunContext:
        log_prints = self.task.log_prints
        return TaskRunContext(
            self.task,
            self.task_run,
            self.flow_ctx,
            self.logger,
            self.flow_ctx.log_prints if log_prints is None else log_prints,
        )

    # -- sync --------------------------------------------------------------------------
    def run_sync(self) -> State[Any]:
        state = self._begin()
        if state is not None:
            return self._finish(state)
        token = task_run_ctx.set(self._task_context())
        try:
            while True:
                state = self._attempt_sync()
                delay = self._retry_delay(state)
                if delay is None:
                    break
                if delay:
                    time.sleep(delay)
                self._propose(Retrying(state_details=self._details()))
        finally:
            task_run_ctx.reset(token)
        return self._finish(state)

    def _attempt_sync(self) -> State[Any]:
        task = self.task
        self.task_run.run_count += 1
        signature = task.call_signature()
        scope = None
        try:
            if task.timeout_seconds is None:
                value = signature.call(task.fn, self.params)
            else:
                with timeout_scope(task.timeout_seconds) as scope:
                    value = signature.call(task.fn, self.params)
            return self._from_return(value)
        except DeadlineExceeded:
            if task.timeout_seconds is not None and scope is not None and scope.fired:
                return self._timed_out()
            self._finish(self._interrupted("its flow run exceeded its timeout"))
            raise
        except CancelInterrupt:
            self._finish(self._interrupted("its flow run was cancelled"))
            raise
        except Exception as exc:
            return self._from_exception(exc)
        except BaseException as exc:
            self._finish(
                Crashed(
                    f"Execution was interrupted by {type(exc).__name__}.",
                    data=exc,
                    state_details=self._details(),
                )
            )
            raise

    def run_to_completion(self, done: Completion[State[Any]]) -> None:
        try:
            state = self.run_in_worker()
        except BaseException as exc:
            # A task body that raised SystemExit or KeyboardInterrupt crashed its run (already
            # recorded); the flow sees that state instead of the exception in its own thread.
            state = self.final_state or Crashed(
                f"Execution was interrupted by {type(exc).__name__}.", data=exc
            )
        done.set(state)

    def run_in_worker(self) -> State[Any]:
        """Entry point of a submitted task run in a task-runner thread."""
        flow_ctx = self.flow_ctx
        if flow_ctx.aborting:
            return self._finish(self._interrupted("its flow run ended before it started"))
        thread_id = threading.get_ident()
        flow_ctx.running_task_threads[thread_id] = self.task_run
        try:
            if self.task.isasync:
                import asyncio

                return asyncio.run(self.run_async())
            return self.run_sync()
        except (CancelInterrupt, DeadlineExceeded):
            return self.final_state or self._finish(self._interrupted("its flow run ended"))
        finally:
            flow_ctx.running_task_threads.pop(thread_id, None)
            release_thread(thread_id)

    # -- async -------------------------------------------------------------------------
    async def run_async_for_caller(self, return_state: bool) -> Any:
        state = await self.run_async()
        self.flow_ctx.child_states.append(state)
        if return_state:
            return state
        return state.result()

    async def run_async(self) -> State[Any]:
        import asyncio

        if self._needs_waiting():
            state = await asyncio.to_thread(copy_context().run, self._begin)
        else:
            state = self._begin()
        if state is not None:
            return self._finish(state)
        token = task_run_ctx.set(self._task_context())
        try:
            while True:
                state = await self._attempt_async()
                delay = self._retry_delay(state)
                if delay is None:
                    break
                if delay:
                    await asyncio.sleep(delay)
                self._propose(Retrying(state_details=self._details()))
        finally:
            task_run_ctx.reset(token)
        return self._finish(state)

    async def _attempt_async(self) -> State[Any]:
        import asyncio

        task = self.task
        self.task_run.run_count += 1
        signature = task.call_signature()
        timeout = asyncio.timeout(task.timeout_seconds)
        try:
            async with timeout:
                value = await signature.call(task.fn, self.params)
            return self._from_return(value)
        except TimeoutError as exc:
            if timeout.expired():
                return self._timed_out()
            return self._from_exception(exc)
        except asyncio.CancelledError:
            self._finish(self._interrupted("its flow run was cancelled"))
            raise
        except Exception as exc:
            return self._from_exception(exc)
        except BaseException as exc:
            self._finish(
                Crashed(
                    f"Execution was interrupted by {type(exc).__name__}.",
                    data=exc,
                    state_details=self._details(),
                )
            )
            raise

    def _needs_waiting(self) -> bool:
        return has_unfinished(self.params) or has_unfinished(self.wait_for)
