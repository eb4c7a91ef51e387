"""The run contexts: which flow run and task run the current code executes in.

`get_run_context()` returns the innermost one, with the attributes a Prefect port commonly
reads (`.flow_run`, `.flow`, `.parameters`; in a task also `.task_run`, `.task`). Context
variables (not thread-locals) so that submitted tasks carry their flow run into worker
threads (the task runner copies the context) and concurrent async subflows under
`asyncio.gather` each see their own run.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from itertools import count
from typing import TYPE_CHECKING, Any

from kflow.exceptions import MissingContextError
from kflow.unsupported import module_getattr

if TYPE_CHECKING:
    from kflow.backend import Backend, FlowRun, RunControl, TaskRun
    from kflow.flows import Flow
    from kflow.futures import TaskRunFuture
    from kflow.logging import RunLogger
    from kflow.results import ResultStore
    from kflow.states import State
    from kflow.task_runners import TaskRunner
    from kflow.tasks import Task


class FlowRunContext:
    """Everything the engine keeps for one flow run while its body executes."""

    def __init__(
        self,
        flow: Flow[Any, Any],
        flow_run: FlowRun,
        backend: Backend,
        control: RunControl,
        task_runner: TaskRunner,
        logger: RunLogger,
        parent: FlowRunContext | None,
    ) -> None:
        self.flow = flow
        self.flow_run = flow_run
        self.backend = backend
        self.control = control
        self.task_runner = task_runner
        self.logger = logger
        self.parent = parent
        self.log_prints = bool(flow.log_prints)
        self.persist_result = bool(flow.persist_result)
        #: Where this run's results go: its flow's storage and serializer where the flow sets
        #: them, else its parent run's, else the backend's default (as Prefect's subflows).
        base = parent.result_store if parent is not None else backend.result_store()
        self.result_store: ResultStore = base.updated(flow.result_storage, flow.result_serializer)
        #: Final states of the task runs and subflow runs of the current attempt, plus the
        #: futures of submitted task runs (resolved when the body returns).
        self.child_states: list[State[Any]] = []
        self.child_futures: list[TaskRunFuture[Any]] = []
        self.task_counters: dict[str, count[int]] = {}
        #: Worker threads currently executing a task body of this run (thread id -> task run),
        #: so a cancellation or a timeout can interrupt them.
        self.running_task_threads: dict[int, TaskRun] = {}
        self.body_thread_id = threading.get_ident()
        #: True while the user's flow body executes (only then may it be interrupted).
        self.in_body = False
        #: Set when the run is being torn down (timeout, cancellation): submitted task runs that
        #: have not started yet end as CANCELLED instead of starting.
        self.aborting = False
        #: When the engine next asks the backend for requests from other processes.
        self.next_control_poll = 0.0
        #: Set by `kflow.engine.cancellation.cancel_flow_run` so the body ends as CANCELLED.
        self.cancel_reason: str | None = None
        #: Set by `kflow.engine.cancellation.crash_flow_run`: the interrupted run ends CRASHED,
        #: not CANCELLED.
        self.crash_reason: str | None = None
        #: How many `pause_flow_run(reschedule=True)` calls this run has made (their keys).
        self.suspensions = 0
        #: The asyncio task running an async flow's body (cancellation goes through it).
        self.async_task: Any = None
        self.loop: Any = None

    @property
    def parameters(self) -> dict[str, Any]:
        """The flow run's parameters, validated and coerced."""
        return self.flow_run.parameters

    def next_dynamic_key(self, task_key: str) -> int:
        counter = self.task_counters.get(task_key)
        if counter is None:
            counter = self.task_counters.setdefault(task_key, count())
        return next(counter)


class TaskRunContext:
    __slots__ = ("flow_ctx", "log_prints", "logger", "task", "task_run")

    def __init__(
        self,
        task: Task[Any, Any],
        task_run: TaskRun,
        flow_ctx: FlowRunContext,
        logger: RunLogger,
        log_prints: bool,
    ) -> None:
        self.task = task
        self.task_run = task_run
        self.flow_ctx = flow_ctx
        self.logger = logger
        self.log_prints = log_prints

    @property
    def parameters(self) -> dict[str, Any]:
        """The task run's inputs, futures resolved to their values."""
        return self.task_run.parameters

    @property
    def flow_run(self) -> FlowRun:
        """The flow run this task run belongs to (Prefect reaches it through the runtime)."""
        return self.flow_ctx.flow_run

    @property
    def flow(self) -> Flow[Any, Any]:
        return self.flow_ctx.flow


flow_run_ctx: ContextVar[FlowRunContext | None] = ContextVar("kflow_flow_run", default=None)
task_run_ctx: ContextVar[TaskRunContext | None] = ContextVar("kflow_task_run", default=None)


def get_run_context() -> TaskRunContext | FlowRunContext:
    """The context of the task run, else the flow run, the calling code runs in.

    Raises MissingContextError (a RuntimeError) outside any run, as Prefect does.
    """
    task_ctx = task_run_ctx.get()
    if task_ctx is not None:
        return task_ctx
    flow_ctx = flow_run_ctx.get()
    if flow_ctx is not None:
        return flow_ctx
    raise MissingContextError(
        "No run context available: get_run_context() was called outside a flow run or task "
        "run. Call it inside a @flow or @task function; kflow.runtime.flow_run and "
        "kflow.runtime.task_run give empty values outside a run instead of raising."
    )


if not TYPE_CHECKING:  # Prefect names kflow lacks: a clear error, not "no attribute"
    __getattr__ = module_getattr(__name__)
