"""The one interface through which every run event of the engine flows.

The engine never writes history, status or results itself: it tells a `Backend`. Three backends
exist: `MemoryBackend` here (in-process, for tests and `KFLOW_BACKEND=memory`), the local SQLite
history (`kflow.history.local_backend`) and the Kubernetes FlowRun backend
(`kflow.cluster.backend`). They report the same events; the engine does not know which one it
talks to.

Contract (what a backend implementer must honour)

* Creation: `create_flow_run(flow_run)` once per flow run (top-level or subflow) before any of
  its states; `create_task_run(task_run)` once per task run, including the "mirror" task run
  that stands for a subflow in its parent (`task_run.child_flow_run_id` is set, and the child's
  `flow_run.parent_task_run_id` points back). `flow_run.existing` is True when the run was
  created outside the engine (e.g. a FlowRun object run by `kflow execute`): record it, do not
  create it again.
* States: `set_flow_run_state` / `set_task_run_state` are PROPOSALS. Return the state actually
  in force. Returning the proposed object means "accepted". A cluster backend may return
  something else, e.g. a CANCELLING/CANCELLED state when RUNNING is proposed for a run that is
  being cancelled: the engine then does not run the body and ends the run in that state
  (CANCELLING ends as CANCELLED after the `on_cancellation` hooks). The records passed in are
  live engine objects: read what you need during the call (or copy), do not mutate them.
* Hot path: task-run creation and task-run states are called from many threads, several times
  per task run; the per-task budget is tens of microseconds. Append to a buffer and write in
  batches. `flush()` is called when a top-level flow run ends (after its final state) and must
  make everything durable before returning: the process may exit right after.
  All methods must be thread-safe.
* Outside control: `control(flow_run)` returns the run's `RunControl`, a small object whose
  flags the engine reads at every task boundary (a plain attribute read, so keep them up to
  date from your own watcher thread or from `request_*`). The flags of a run's ancestors count
  too, so a subflow stops when its top-level run is cancelled. At most every
  `control_poll_interval` seconds a task boundary also calls `poll_control(flow_run,
  control)`, where the default picks up requests other processes left as flag files
  (`request_pause` / `request_cancel` for a run not in this process). A backend that learns of a
  cancellation should call `kflow.engine.cancellation.cancel_flow_run(flow_run_id, reason)` to
  interrupt the body at once (safe from a signal handler or any thread; the engine makes sure the
  exception is raised into each thread only once, whoever asks first).
* Pause: `pause_flow_run()` calls `prepare_pause(flow_run)` (forget stale resume requests),
  proposes PAUSED, then calls `wait_for_resume(flow_run, timeout)`, which blocks until
  `resume_flow_run(flow_run_id)` is called (possibly in another process, hence the default
  implementation below keeps a flag file under `$KFLOW_HOME/control`) and returns True, or
  returns False on timeout (the run then fails) or when a cancellation is requested. After a
  resume the engine proposes RUNNING. `request_pause(flow_run_id)` (what
  `pause_flow_run(flow_run_id=...)` calls) sets `RunControl.pause_requested`; the engine pauses
  at the next task boundary and clears the flag. `supports_reschedule` is False for local
  backends: `pause_flow_run(reschedule=True)` then raises; a cluster backend sets it and
  implements `suspend_flow_run(flow_run, timeout)`, after which the engine ends the run in a
  PAUSED state named `Suspended` (no terminal state, no hooks) and returns.
* Results: `result_store()` is where results go unless a flow or task names its own
  `result_storage` / `result_serializer` (`kflow.results.ResultStore`); the default keeps
  pickles in `$KFLOW_RESULT_STORAGE` (a directory or an `s3://bucket/prefix` URL: what a
  cluster run's `infrastructure.resultStorage` sets), else under `$KFLOW_HOME/results`
  (KFLOW_HOME defaults to ~/.kflow). A flow run's own
  store is `flow_run.result_store`: show its result's location from there.

Which backend the engine uses is decided in one place, `kflow.backend_selection`.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kflow.filesystems import (
    RESULT_STORAGE_ENV,
    LocalFileSystem,
    WritableFileSystem,
    resolve_storage,
)
from kflow.results import ResultStore
from kflow.serializers import PickleSerializer

if TYPE_CHECKING:
    from datetime import datetime

    from kflow.states import State


def kflow_home() -> Path:
    """Where local state lives (history, results, control flags): $KFLOW_HOME or ~/.kflow."""
    return Path(os.environ.get("KFLOW_HOME") or Path.home() / ".kflow")


def default_result_storage() -> WritableFileSystem:
    """`$KFLOW_RESULT_STORAGE` (set for a cluster run by its infrastructure.resultStorage),
    else `$KFLOW_HOME/results`."""
    named = os.environ.get(RESULT_STORAGE_ENV)
    if named:
        storage = resolve_storage(named, f"${RESULT_STORAGE_ENV}")
        assert storage is not None
        return storage
    return LocalFileSystem(kflow_home() / "results")


def _as_datetime(timestamp: float | None) -> datetime | None:
    if timestamp is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC)


class DeploymentInfo:
    """The Deployment a flow run was started for (`kflow.runtime.deployment`)."""

    __slots__ = ("id", "name", "parameters")

    def __init__(self, id: str | None, name: str, parameters: dict[str, Any]) -> None:
        self.id = id
        self.name = name
        self.parameters = parameters

    def __repr__(self) -> str:
        return f"DeploymentInfo(id={self.id!r}, name={self.name!r})"


class FlowRun:
    """One run of a flow, as the engine and the hooks (`hook(flow, flow_run, state)`) see it."""

    __slots__ = (
        "deployment",
        "end_time",
        "existing",
        "flow_name",
        "flow_version",
        "id",
        "name",
        "parameters",
        "parent_flow_run_id",
        "parent_task_run_id",
        "result_store",
        "run_count",
        "scheduled_time",
        "start_time",
        "state",
        "tags",
    )

    def __init__(
        self,
        id: str,
        name: str,
        flow_name: str,
        parameters: dict[str, Any],
        *,
        flow_version: str | None = None,
        tags: list[str] | None = None,
        parent_flow_run_id: str | None = None,
        parent_task_run_id: str | None = None,
        scheduled_time: float | None = None,
        existing: bool = False,
        deployment: DeploymentInfo | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.flow_name = flow_name
        self.flow_version = flow_version
        self.parameters = parameters
        self.tags = tags if tags is not None else []
        self.parent_flow_run_id = parent_flow_run_id
        self.parent_task_run_id = parent_task_run_id
        self.scheduled_time = scheduled_time if scheduled_time is not None else time.time()
        self.existing = existing
        #: Set for the top-level run of a Deployment; its subflow runs have None.
        self.deployment = deployment
        #: Where the engine keeps this run's results (its flow's storage and serializer).
        self.result_store: ResultStore | None = None
        self.start_time: float | None = None
        self.end_time: float | None = None
        self.run_count = 0
        self.state: State[Any] | None = None

    @property
    def deployment_id(self) -> str | None:
        return self.deployment.id if self.deployment is not None else None

    @property
    def expected_start_time(self) -> datetime | None:
        return _as_datetime(self.scheduled_time)

    @property
    def scheduled_start_time(self) -> datetime | None:
        return _as_datetime(self.scheduled_time)

    def __repr__(self) -> str:
        return f"FlowRun(id={self.id!r}, name={self.name!r}, flow_name={self.flow_name!r})"


class TaskRun:
    """One run of a task (or the mirror of a subflow run inside its parent flow run)."""

    __slots__ = (
        "child_flow_run_id",
        "dynamic_key",
        "end_time",
        "flow_run_id",
        "id",
        "name",
        "parameters",
        "run_count",
        "start_time",
        "state",
        "tags",
        "task_key",
        "task_name",
    )

    def __init__(
        self,
        id: str,
        name: str,
        task_name: str,
        task_key: str,
        dynamic_key: int,
        flow_run_id: str,
        *,
        parameters: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        child_flow_run_id: str | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.task_name = task_name
        self.task_key = task_key
        self.dynamic_key = dynamic_key
        self.flow_run_id = flow_run_id
        self.parameters = parameters if parameters is not None else {}
        self.tags = tags if tags is not None else []
        self.child_flow_run_id = child_flow_run_id
        self.start_time: float | None = None
        self.end_time: float | None = None
        self.run_count = 0
        self.state: State[Any] | None = None

    def __repr__(self) -> str:
        return f"TaskRun(id={self.id!r}, name={self.name!r})"


class RunControl:
    """Requests from outside the engine for one flow run, read at every task boundary."""

    __slots__ = ("cancel_requested", "pause_requested", "reason")

    def __init__(self) -> None:
        self.cancel_requested = False
        self.pause_requested = False
        self.reason: str | None = None


class Backend:
    """Base class: no-op history, file-flag pause/resume, local pickle results.

    Subclasses override what they record; every method has a working default so a backend can
    start small.
    """

    name = "base"
    supports_reschedule = False
    #: How often `wait_for_resume` looks at the resume flag (seconds).
    resume_poll_interval = 0.05
    #: At most how often the engine calls `poll_control` at task boundaries (seconds).
    control_poll_interval = 0.5

    def __init__(self) -> None:
        self._controls: dict[str, RunControl] = {}
        self._controls_lock = threading.Lock()
        self._resume_events: dict[str, threading.Event] = {}
        self._results: ResultStore | None = None

    # -- runs and states ---------------------------------------------------------------
    def create_flow_run(self, flow_run: FlowRun) -> None:
        """Record a new flow run (or, with `flow_run.existing`, one created elsewhere)."""

    def set_flow_run_state(self, flow_run: FlowRun, state: State[Any]) -> State[Any]:
        """Propose a flow-run state; return the state in force (see the module docstring)."""
        return state

    def create_task_run(self, task_run: TaskRun) -> None:
        """Record a new task run. Hot path: buffer it."""

    def set_task_run_state(self, task_run: TaskRun, state: State[Any]) -> State[Any]:
        """Propose a task-run state; return the state in force. Hot path: buffer it."""
        return state

    def flush(self) -> None:
        """Make every event reported so far durable."""

    def top_level_run_ended(self) -> None:
        """A top-level flow run and its hooks are done: its state must be durable when its call
        returns. A backend may let the rest (task runs, log lines) follow in the background."""
        self.flush()

    def close(self) -> None:
        """Release resources; the backend is not used afterwards."""
        self.flush()

    # -- outside control ---------------------------------------------------------------
    def control(self, flow_run: FlowRun) -> RunControl:
        with self._controls_lock:
            ctl = self._controls.get(flow_run.id)
            if ctl is None:
                ctl = self._controls[flow_run.id] = RunControl()
            return ctl

    def request_pause(self, flow_run_id: str) -> None:
        """Ask a flow run to pause at its next task boundary, in this process or another."""
        with self._controls_lock:
            ctl = self._controls.get(flow_run_id)
        if ctl is not None:  # the run is in this process: its engine reads this object
            ctl.pause_requested = True
        else:
            self._control_flag(flow_run_id, "pause").write_text("")

    def request_cancel(self, flow_run_id: str, reason: str | None = None) -> None:
        """Ask a flow run to stop at its next task boundary, in this process or another.

        In the same process `kflow.engine.cancellation.cancel_flow_run` also interrupts the body
        at once.
        """
        with self._controls_lock:
            ctl = self._controls.get(flow_run_id)
        if ctl is not None:
            ctl.reason = reason
            ctl.cancel_requested = True
        else:
            self._control_flag(flow_run_id, "cancel").write_text(reason or "")

    def poll_control(self, flow_run: FlowRun, control: RunControl) -> None:
        """Bring `control` up to date with requests made from other processes.

        Called by the engine at task boundaries, at most every `control_poll_interval`
        seconds. The default reads the flag files `request_pause` / `request_cancel` leave
        under `$KFLOW_HOME/control`; a backend that updates its RunControl objects itself
        (a watcher thread) may make this a no-op.
        """
        pause = self._control_flag(flow_run.id, "pause", create_dir=False)
        if pause.exists():
            pause.unlink(missing_ok=True)
            control.pause_requested = True
        cancel = self._control_flag(flow_run.id, "cancel", create_dir=False)
        if cancel.exists():
            try:
                reason = cancel.read_text() or None
            except OSError:
                reason = None
            cancel.unlink(missing_ok=True)
            control.reason = reason
            control.cancel_requested = True

    def _control_flag(self, flow_run_id: str, kind: str, create_dir: bool = True) -> Path:
        folder = kflow_home() / "control"
        if create_dir:
            folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{flow_run_id}.{kind}"

    def _resume_flag(self, flow_run_id: str) -> Path:
        return kflow_home() / "control" / f"{flow_run_id}.resume"

    def _resume_event(self, flow_run_id: str) -> threading.Event:
        with self._controls_lock:
            event = self._resume_events.get(flow_run_id)
            if event is None:
                event = self._resume_events[flow_run_id] = threading.Event()
            return event

    def prepare_pause(self, flow_run: FlowRun) -> None:
        """Clear any stale resume request before a pause starts waiting."""
        self._resume_event(flow_run.id).clear()
        self._resume_flag(flow_run.id).unlink(missing_ok=True)

    def resume_flow_run(self, flow_run_id: str) -> None:
        """Resume a paused flow run; works from another thread or another process."""
        flag = self._resume_flag(flow_run_id)
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
        self._resume_event(flow_run_id).set()

    def wait_for_resume(self, flow_run: FlowRun, timeout: float | None) -> bool:
        """Block until resumed (True) or until `timeout` seconds have passed (False)."""
        event = self._resume_event(flow_run.id)
        flag = self._resume_flag(flow_run.id)
        ctl = self.control(flow_run)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if event.is_set() or flag.exists():
                event.clear()
                flag.unlink(missing_ok=True)
                return True
            self.poll_control(flow_run, ctl)
            if ctl.cancel_requested:
                return False
            wait = self.resume_poll_interval
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                wait = min(wait, left)
            event.wait(wait)

    def suspend_flow_run(self, flow_run: FlowRun, timeout: float | None) -> None:
        """Arrange for the run to be restarted on resume (cluster backends only)."""
        raise NotImplementedError(
            "pause_flow_run(reschedule=True) needs a cluster backend: run the flow as a FlowRun "
            "through the kflow operator, or call pause_flow_run(reschedule=False) to block here."
        )

    # -- results -------------------------------------------------------------------------
    def result_store(self) -> ResultStore:
        """Where results go unless a flow or task names its own storage or serializer."""
        if self._results is None:
            self._results = ResultStore(default_result_storage(), PickleSerializer())
        return self._results


class MemoryBackend(Backend):
    """Keeps runs and their state history in memory (tests, benchmarks, `KFLOW_BACKEND=memory`)."""

    name = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.flow_runs: dict[str, FlowRun] = {}
        self.task_runs: dict[str, TaskRun] = {}
        self.flow_run_states: dict[str, list[State[Any]]] = {}
        self.task_run_states: dict[str, list[State[Any]]] = {}
        self.flushes = 0

    def create_flow_run(self, flow_run: FlowRun) -> None:
        self.flow_runs[flow_run.id] = flow_run
        self.flow_run_states.setdefault(flow_run.id, [])

    def set_flow_run_state(self, flow_run: FlowRun, state: State[Any]) -> State[Any]:
        self.flow_run_states.setdefault(flow_run.id, []).append(state)
        return state

    def create_task_run(self, task_run: TaskRun) -> None:
        self.task_runs[task_run.id] = task_run
        self.task_run_states[task_run.id] = []

    def set_task_run_state(self, task_run: TaskRun, state: State[Any]) -> State[Any]:
        self.task_run_states[task_run.id].append(state)
        return state

    def flush(self) -> None:
        self.flushes += 1
