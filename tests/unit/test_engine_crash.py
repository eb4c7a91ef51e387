"""`crash_flow_run`: a stop signal that was no cancellation request ends the run CRASHED."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kflow import flow, task
from kflow.backend import FlowRun, MemoryBackend, TaskRun, set_backend
from kflow.engine import crash_flow_run
from kflow.states import State, StateType

REASON = "Flow run process was terminated by SIGTERM without a cancellation request."


class WatchedBackend(MemoryBackend):
    """Lets the test wait for a state without sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def set_flow_run_state(self, flow_run: FlowRun, state: State[Any]) -> State[Any]:
        in_force = super().set_flow_run_state(flow_run, state)
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

    def running_root(self) -> FlowRun | None:
        for run in list(self.flow_runs.values()):
            states = self.flow_run_states.get(run.id, [])
            if run.parent_task_run_id is None and any(s.type is StateType.RUNNING for s in states):
                return run
        return None

    def task_running(self) -> bool:
        return any(
            states and states[-1].type is StateType.RUNNING
            for states in list(self.task_run_states.values())
        )


@pytest.fixture(autouse=True)
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WatchedBackend]:
    monkeypatch.setenv("KFLOW_HOME", str(tmp_path))
    watched = WatchedBackend()
    set_backend(watched)
    yield watched
    set_backend(None)


def recording(hooks: list[str]) -> Callable[[Any, Any, State[Any]], None]:
    def hook(owner: Any, run: Any, state: State[Any]) -> None:
        hooks.append(state.type.value)

    return hook


def test_crash_from_another_thread_runs_on_crashed_hooks_only(backend: WatchedBackend) -> None:
    crashed: list[str] = []
    cancelled: list[str] = []
    after: list[int] = []

    @flow(on_crashed=[recording(crashed)], on_cancellation=[recording(cancelled)])
    def busy() -> None:
        for _ in range(3000):
            time.sleep(0.01)
        after.append(1)

    outcome: list[State[Any]] = []
    thread = threading.Thread(target=lambda: outcome.append(busy(return_state=True)), daemon=True)
    thread.start()
    backend.wait_for(lambda: backend.running_root() is not None)
    running = backend.running_root()
    assert running is not None
    assert crash_flow_run(running.id, reason=REASON)
    thread.join(10)
    assert not thread.is_alive()
    state = outcome[0]
    assert state.type is StateType.CRASHED and state.message == REASON
    assert backend.flow_run_states[running.id][-1].type is StateType.CRASHED
    assert crashed == ["CRASHED"] and not cancelled and not after


def test_crash_from_a_signal_handler_stops_task_runs_and_subflows(
    backend: WatchedBackend,
) -> None:
    crashed: list[str] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: crash_flow_run(reason=REASON))

    @task
    def sleepy() -> None:
        for _ in range(3000):
            time.sleep(0.01)

    @flow
    def child() -> None:
        for _ in range(600):
            time.sleep(0.05)

    @flow(on_crashed=[recording(crashed)])
    def sleeper() -> None:
        sleepy.submit()
        child()

    def send_signal_once_running() -> None:
        backend.wait_for(backend.task_running)
        backend.wait_for(lambda: len(backend.flow_runs) == 2)
        os.kill(os.getpid(), signal.SIGUSR1)

    sender = threading.Thread(target=send_signal_once_running, daemon=True)
    sender.start()
    started = time.monotonic()
    try:
        state = sleeper(return_state=True)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert time.monotonic() - started < 5
    assert state.type is StateType.CRASHED and state.message == REASON
    assert crashed == ["CRASHED"]
    finals = {
        run.name: backend.flow_run_states[run.id][-1].type for run in backend.flow_runs.values()
    }
    assert set(finals.values()) == {StateType.CRASHED}, finals


def test_crash_returns_false_when_nothing_runs() -> None:
    assert crash_flow_run("no-such-run") is False
