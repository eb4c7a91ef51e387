"""What the SDK unit tests use to watch and drive a flow run from outside it: a memory backend a
test can wait on (instead of sleeping), a hook that records the states it fires for, a call run
in a thread whose return value is kept, and a signal sent to the process once the run is
somewhere."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kflow.backend import FlowRun, MemoryBackend, TaskRun
from kflow.states import State, StateType


class WatchedBackend(MemoryBackend):
    """Lets the test wait for a state without sleeping. With a `marker_dir`, each flow run state
    also leaves a file `<run id>.<STATE>` there, which a child process can wait for."""

    def __init__(self, marker_dir: Path | None = None) -> None:
        super().__init__()
        self.marker_dir = marker_dir
        self.changed = threading.Condition()

    def set_flow_run_state(self, flow_run: FlowRun, state: State[Any]) -> State[Any]:
        in_force = super().set_flow_run_state(flow_run, state)
        if self.marker_dir is not None:
            (self.marker_dir / f"{flow_run.id}.{state.type.value}").touch()
        with self.changed:
            self.changed.notify_all()
        return in_force

    def set_task_run_state(self, task_run: TaskRun, state: State[Any]) -> State[Any]:
        in_force = super().set_task_run_state(task_run, state)
        with self.changed:
            self.changed.notify_all()
        return in_force

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), "condition not reached in time"

    def task_running(self) -> bool:
        return any(
            states and states[-1].type is StateType.RUNNING
            for states in list(self.task_run_states.values())
        )

    def reached(self, state_type: StateType) -> FlowRun | None:
        """The first flow run (root or subflow) that has been in `state_type`."""
        for run in list(self.flow_runs.values()):
            if any(s.type is state_type for s in self.flow_run_states.get(run.id, [])):
                return run
        return None

    def running_root(self) -> FlowRun | None:
        """The root flow run (not a subflow) once it has been RUNNING."""
        for run in list(self.flow_runs.values()):
            states = self.flow_run_states.get(run.id, [])
            if run.parent_task_run_id is None and any(s.type is StateType.RUNNING for s in states):
                return run
        return None


def recording(record: list[str]) -> Callable[[Any, Any, State[Any]], None]:
    """A state hook (on_crashed, on_cancellation, …) that appends the state type it ran for."""

    def hook(owner: Any, run: Any, state: State[Any]) -> None:
        record.append(state.type.value)

    return hook


def run_in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start `target` in a daemon thread; its return value lands in the list once it returns."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(target()), daemon=True)
    thread.start()
    return thread, outcome


@contextlib.contextmanager
def sigusr1_once(handler: Callable[[], object], when: Callable[[], None]) -> Iterator[None]:
    """While the block runs, SIGUSR1 calls `handler` (in the main thread, as Python runs signal
    handlers), and is sent to this process once, from another thread, as soon as `when` returns:
    a stop signal that lands while the flow is busy, as from `kill` outside the process."""
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: handler())

    def send_once_ready() -> None:
        when()
        os.kill(os.getpid(), signal.SIGUSR1)

    threading.Thread(target=send_once_ready, daemon=True).start()
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)
