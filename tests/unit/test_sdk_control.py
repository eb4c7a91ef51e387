"""Control from outside the flow body: pause/resume (thread and process), cancellation, and
backends that refuse a state."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kflow import flow, pause_flow_run, resume_flow_run, task
from kflow.backend import Backend, FlowRun, MemoryBackend, TaskRun
from kflow.backend_selection import set_backend
from kflow.engine.cancellation import cancel_flow_run
from kflow.exceptions import ReschedulingNotSupported
from kflow.runtime import flow_run as runtime_flow_run
from kflow.states import Cancelling, State, StateType

from tests.support.sdk_runs import WatchedBackend, recording, run_in_thread, sigusr1_once

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def new_backend(tmp_path: Path) -> WatchedBackend:
    return WatchedBackend(marker_dir=tmp_path)


def test_pause_blocks_until_resumed_from_another_thread(backend: WatchedBackend) -> None:
    steps: list[str] = []

    @task
    def step(name: str) -> None:
        steps.append(name)

    @flow
    def paused_flow() -> str:
        step("setup")
        pause_flow_run(timeout=30)
        step("punchline")
        return "done"

    thread, outcome = run_in_thread(lambda: paused_flow(return_state=True))
    backend.wait_for(lambda: backend.reached(StateType.PAUSED) is not None)
    assert steps == ["setup"]
    paused = backend.reached(StateType.PAUSED)
    assert paused is not None
    resume_flow_run(paused.id)
    thread.join(10)
    assert outcome[0].result() == "done"
    assert steps == ["setup", "punchline"]
    types = [s.type for s in backend.flow_run_states[paused.id]]
    assert types[-3:] == [StateType.PAUSED, StateType.RUNNING, StateType.COMPLETED]


def test_pause_resumed_from_another_process(backend: WatchedBackend, tmp_path: Path) -> None:
    @flow
    def paused_flow() -> str:
        run_id = runtime_flow_run.id
        resumer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time, pathlib\n"
                "marker = pathlib.Path(sys.argv[1])\n"
                "deadline = time.monotonic() + 20\n"
                "while not marker.exists() and time.monotonic() < deadline:\n"
                "    time.sleep(0.01)\n"
                "from kflow import resume_flow_run\n"
                "resume_flow_run(sys.argv[2])\n",
                str(tmp_path / f"{run_id}.PAUSED"),
                run_id,
            ],
            env={**os.environ, "KFLOW_BACKEND": "memory"},
        )
        pause_flow_run(timeout=30)
        assert resumer.wait(20) == 0
        return "resumed"

    assert paused_flow() == "resumed"


def test_pause_timeout_fails_the_run() -> None:
    @flow
    def never_resumed() -> None:
        pause_flow_run(timeout=0.2)

    state = never_resumed(return_state=True)
    assert state.is_failed()
    assert "paused and not resumed within 0.2 second(s)" in (state.message or "")


def test_async_pause_is_awaitable(backend: WatchedBackend) -> None:
    @flow
    async def inspiring_joke() -> str:
        await pause_flow_run(timeout=30)
        return "ducked"

    thread, outcome = run_in_thread(lambda: asyncio.run(inspiring_joke()))
    backend.wait_for(lambda: backend.reached(StateType.PAUSED) is not None)
    paused = backend.reached(StateType.PAUSED)
    assert paused is not None
    resume_flow_run(paused.id)
    thread.join(10)
    assert outcome == ["ducked"]


def test_pause_requested_from_outside_happens_at_the_next_task(backend: WatchedBackend) -> None:
    gate = threading.Event()
    steps: list[int] = []

    @task
    def step(i: int) -> None:
        steps.append(i)
        if i == 0:
            assert gate.wait(10)

    @flow
    def long_running() -> None:
        for i in range(3):
            step(i)

    thread, outcome = run_in_thread(lambda: long_running(return_state=True))
    backend.wait_for(backend.task_running)
    running = backend.reached(StateType.RUNNING)
    assert running is not None
    pause_flow_run(flow_run_id=running.id)
    gate.set()
    backend.wait_for(lambda: backend.reached(StateType.PAUSED) is not None)
    assert steps == [0]
    resume_flow_run(running.id)
    thread.join(10)
    assert outcome[0].is_completed() and steps == [0, 1, 2]


def test_reschedule_needs_a_cluster_backend() -> None:
    @flow(persist_result=True)
    def noblock_pausing() -> None:
        pause_flow_run(timeout=30, reschedule=True)

    with pytest.raises(ReschedulingNotSupported, match="needs a run backed by the kflow operator"):
        noblock_pausing()


def test_pause_outside_a_flow_or_in_a_task_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="outside a flow run"):
        pause_flow_run()

    @task
    def pauses() -> None:
        pause_flow_run()

    @flow
    def f() -> None:
        pauses()

    with pytest.raises(RuntimeError, match="Task runs cannot be paused"):
        f()


def test_cancel_from_another_thread(backend: WatchedBackend) -> None:
    hooks: list[str] = []
    after: list[int] = []

    @flow(on_cancellation=[recording(hooks)])
    def busy() -> None:
        for _ in range(3000):
            time.sleep(0.01)
        after.append(1)

    thread, outcome = run_in_thread(lambda: busy(return_state=True))
    backend.wait_for(lambda: backend.reached(StateType.RUNNING) is not None)
    running = backend.reached(StateType.RUNNING)
    assert running is not None
    assert cancel_flow_run(running.id, reason="Stopped by the test.")
    thread.join(10)
    assert not thread.is_alive()
    state = outcome[0]
    assert state.type is StateType.CANCELLED and state.message == "Stopped by the test."
    assert hooks == ["CANCELLED"] and not after


def test_cancel_from_a_signal_handler(
    backend: WatchedBackend,
) -> None:
    hooks: list[str] = []

    @task
    def sleepy() -> None:
        for _ in range(3000):
            time.sleep(0.01)

    @flow(on_cancellation=[recording(hooks)])
    def sleeper() -> None:
        sleepy.submit()
        # Short sleeps: a signal landing in the instant before a blocking call only runs its
        # handler after that call returns (a CPython limit the engine cannot lift).
        for _ in range(600):
            time.sleep(0.05)

    started = time.monotonic()
    with sigusr1_once(cancel_flow_run, when=lambda: backend.wait_for(backend.task_running)):
        state = sleeper(return_state=True)
    assert time.monotonic() - started < 5
    assert state.type is StateType.CANCELLED
    assert hooks == ["CANCELLED"]
    task_states = [states[-1] for states in backend.task_run_states.values()]
    assert [s.type for s in task_states] == [StateType.CANCELLED]


def test_cancel_returns_false_when_nothing_runs() -> None:
    assert cancel_flow_run("no-such-run") is False


class RefusingBackend(MemoryBackend):
    """A cluster backend whose run was cancelled before the process got to start it."""

    def set_flow_run_state(self, flow_run: FlowRun, state: State[Any]) -> State[Any]:
        if state.type is StateType.RUNNING:
            refused = Cancelling("Cancelled by the operator before start.")
            return super().set_flow_run_state(flow_run, refused)
        return super().set_flow_run_state(flow_run, state)


def test_a_refused_running_state_is_honoured() -> None:
    set_backend(RefusingBackend())
    hooks: list[str] = []
    ran: list[int] = []

    @flow(on_cancellation=[recording(hooks)])
    def f() -> None:
        ran.append(1)

    state = f(return_state=True)
    assert state.type is StateType.CANCELLED
    assert state.message == "Cancelled by the operator before start."
    assert not ran and hooks == ["CANCELLED"]


class CountingBackend(Backend):
    """The smallest useful backend: counts events, from many threads."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.task_runs: list[TaskRun] = []
        self.finals: list[str] = []
        self.flushed_after: int = -1

    def create_task_run(self, task_run: TaskRun) -> None:
        with self.lock:
            self.task_runs.append(task_run)

    def set_task_run_state(self, task_run: TaskRun, state: State[Any]) -> State[Any]:
        if state.is_final():
            with self.lock:
                self.finals.append(task_run.id)
        return state

    def flush(self) -> None:
        self.flushed_after = len(self.finals)


def test_every_task_run_is_reported_before_flush() -> None:
    counting = CountingBackend()
    set_backend(counting)

    @task
    def noop(i: int) -> int:
        return i

    @flow
    def many() -> None:
        for i in range(200):
            noop.submit(i)

    many()
    assert len(counting.task_runs) == 200
    assert counting.flushed_after == 200


def test_cancel_an_async_flow_from_another_thread(backend: WatchedBackend) -> None:
    hooks: list[str] = []

    @flow(on_cancellation=[recording(hooks)])
    async def waiting() -> None:
        await asyncio.sleep(30)

    thread, outcome = run_in_thread(lambda: asyncio.run(waiting(return_state=True)))
    backend.wait_for(lambda: backend.reached(StateType.RUNNING) is not None)
    running = backend.reached(StateType.RUNNING)
    assert running is not None
    assert cancel_flow_run(running.id, reason="Stop waiting.")
    thread.join(10)
    assert outcome[0].type is StateType.CANCELLED and outcome[0].message == "Stop waiting."
    assert hooks == ["CANCELLED"]


def test_flow_timeout_outside_the_main_thread() -> None:
    progress: list[int] = []

    @flow(timeout_seconds=0.2)
    def slow() -> None:
        for step in range(300):
            time.sleep(0.01)
            progress.append(step)

    thread, outcome = run_in_thread(lambda: slow(return_state=True))
    thread.join(10)
    state = outcome[0]
    assert state.name == "TimedOut"
    assert len(progress) < 300  # the call returned long before 300 steps of 10 ms


class ReschedulingBackend(MemoryBackend):
    """Stands in for the cluster backend: suspending ends the process, resuming reruns it."""

    supports_reschedule = True

    def __init__(self) -> None:
        super().__init__()
        self.suspended: list[tuple[str, float | None]] = []

    def suspend_flow_run(self, flow_run: FlowRun, timeout: float | None) -> None:
        self.suspended.append((flow_run.id, timeout))


def test_reschedule_suspends_and_the_rerun_reuses_persisted_results() -> None:
    from kflow.engine.flow_calls import run_flow

    rescheduling = ReschedulingBackend()
    set_backend(rescheduling)
    calls: list[int] = []

    @task(persist_result=True)
    def foo() -> int:
        calls.append(1)
        return 42

    @flow(persist_result=True)
    def noblock_pausing() -> int:
        x = foo.submit()
        pause_flow_run(timeout=30, reschedule=True)
        y = foo.submit()
        return x.result() + y.result()

    first = run_flow(noblock_pausing, {}, flow_run_id="suspend-me")
    assert first.type is StateType.PAUSED and first.name == "Suspended"
    assert rescheduling.suspended == [("suspend-me", 30)]
    assert calls == [1]
    second = run_flow(noblock_pausing, {}, flow_run_id="suspend-me")
    assert second.result() == 84
    assert calls == [1, 1]  # the first foo was read back, not run again
    assert len(rescheduling.suspended) == 1


def run_python(code: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "KFLOW_BACKEND": "memory"},
        check=True,
        timeout=60,
    )


def test_pause_and_cancel_requested_from_another_process(backend: WatchedBackend) -> None:
    steps: list[int] = []
    hooks: list[str] = []

    @task
    def step(i: int) -> None:
        steps.append(i)
        time.sleep(0.01)

    @flow(on_cancellation=[recording(hooks)])
    def longrunning() -> None:
        for i in range(6000):
            step(i)

    thread, outcome = run_in_thread(lambda: longrunning(return_state=True))
    backend.wait_for(backend.task_running)
    running = backend.reached(StateType.RUNNING)
    assert running is not None
    run_python(
        "import sys\nfrom kflow import pause_flow_run\npause_flow_run(flow_run_id=sys.argv[1])",
        running.id,
    )
    backend.wait_for(lambda: backend.reached(StateType.PAUSED) is not None)
    paused_at = len(steps)
    run_python(
        "import sys\nfrom kflow.backend_selection import get_backend\n"
        "get_backend().request_cancel(sys.argv[1], 'Cancelled from another process.')",
        running.id,
    )
    thread.join(20)  # cancelled while paused: no resume needed
    state = outcome[0]
    assert state.type is StateType.CANCELLED
    assert state.message == "Cancelled from another process."
    assert hooks == ["CANCELLED"]
    assert len(steps) == paused_at
