"""`crash_flow_run`: a stop signal that was no cancellation request ends the run CRASHED."""

from __future__ import annotations

import time

import pytest
from kflow import flow, task
from kflow.engine.cancellation import crash_flow_run
from kflow.states import StateType

from tests.support.sdk_runs import WatchedBackend, recording, run_in_thread, sigusr1_once

REASON = "Flow run process was terminated by SIGTERM without a cancellation request."

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def new_backend() -> WatchedBackend:
    return WatchedBackend()


def test_crash_from_another_thread_runs_on_crashed_hooks_only(backend: WatchedBackend) -> None:
    crashed: list[str] = []
    cancelled: list[str] = []
    after: list[int] = []

    @flow(on_crashed=[recording(crashed)], on_cancellation=[recording(cancelled)])
    def busy() -> None:
        for _ in range(3000):
            time.sleep(0.01)
        after.append(1)

    thread, outcome = run_in_thread(lambda: busy(return_state=True))
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

    def task_and_subflow_running() -> None:
        backend.wait_for(backend.task_running)
        backend.wait_for(lambda: len(backend.flow_runs) == 2)

    started = time.monotonic()
    with sigusr1_once(lambda: crash_flow_run(reason=REASON), when=task_and_subflow_running):
        state = sleeper(return_state=True)
    assert time.monotonic() - started < 5
    assert state.type is StateType.CRASHED and state.message == REASON
    assert crashed == ["CRASHED"]
    finals = {
        run.name: backend.flow_run_states[run.id][-1].type for run in backend.flow_runs.values()
    }
    assert set(finals.values()) == {StateType.CRASHED}, finals


def test_crash_returns_false_when_nothing_runs() -> None:
    assert crash_flow_run("no-such-run") is False
