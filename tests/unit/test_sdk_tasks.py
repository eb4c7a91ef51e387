"""Tasks: where they may be called, futures, map, wait_for, retries, timeouts, hooks, results."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kflow import allow_failure, flow, task, unmapped
from kflow.backend import MemoryBackend, TaskRun
from kflow.exceptions import MappingLengthMismatch
from kflow.futures import TaskRunFuture
from kflow.runtime import task_run as runtime_task_run
from kflow.states import State, StateType
from kflow.task_runners import SequentialTaskRunner
from kflow.tasks import Task, exponential_backoff

from tests.support.passed_futures import resolved_on_entry

pytestmark = pytest.mark.usefixtures("backend")


@task
def double(x: int) -> int:
    return 2 * x


def test_direct_call_returns_the_value() -> None:
    @flow
    def f() -> int:
        return double(21)

    assert f() == 42


def test_calling_a_task_outside_a_flow_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="outside a flow"):
        double(1)
    with pytest.raises(RuntimeError, match="outside a flow"):
        double.submit(1)
    assert double.fn(2) == 4


def test_calling_a_task_from_a_task_is_an_error() -> None:
    @task
    def outer() -> int:
        return double(1)

    @flow
    def f() -> None:
        outer()

    with pytest.raises(RuntimeError, match="Tasks cannot be run from within tasks"):
        f()


def test_calling_a_flow_from_a_task_is_an_error() -> None:
    @flow
    def inner() -> None:
        pass

    @task
    def outer() -> None:
        inner()

    @flow
    def f() -> None:
        outer()

    with pytest.raises(RuntimeError, match="Flows cannot be run from within tasks"):
        f()


def test_submit_returns_a_future_with_state_wait_and_result() -> None:
    gate = threading.Event()

    @task
    def waits() -> str:
        assert gate.wait(10)
        return "done"

    @flow
    def f() -> None:
        future = waits.submit()
        assert isinstance(future, TaskRunFuture)
        assert future.state.type in (StateType.PENDING, StateType.RUNNING)
        gate.set()
        assert future.wait().is_completed()
        assert future.state.is_completed()
        assert future.result() == "done"

    f()


def test_failed_future_raises_unless_told_not_to() -> None:
    @task
    def fails() -> None:
        raise KeyError("nope")

    @flow
    def f() -> None:
        future = fails.submit()
        assert isinstance(future.result(raise_on_failure=False), KeyError)
        with pytest.raises(KeyError):
            future.result()

    assert f(return_state=True).is_failed()


def test_futures_passed_to_tasks_arrive_as_values() -> None:
    @flow
    def f() -> int:
        a = double.submit(1)
        b = double.submit(resolved_on_entry(a))
        return double(resolved_on_entry(b))

    assert f() == 8


def test_upstream_failure_stops_the_downstream_task_unless_allowed() -> None:
    @task
    def fails() -> None:
        raise ValueError("upstream")

    seen: list[Any] = []

    @task
    def consumer(x: Any) -> None:
        seen.append(x)

    @flow
    def f() -> tuple[State[Any], State[Any]]:
        bad = fails.submit()
        blocked = consumer(bad, return_state=True)
        allowed = consumer(allow_failure(bad), return_state=True)
        return blocked, allowed

    state = f(return_state=True)
    blocked, allowed = state.data
    assert blocked.is_failed() and "did not reach a 'COMPLETED' state" in blocked.message
    assert allowed.is_completed()
    assert len(seen) == 1 and isinstance(seen[0], ValueError)


def test_wait_for_orders_runs() -> None:
    order: list[str] = []

    @task
    def first() -> None:
        time.sleep(0.05)
        order.append("first")

    @task
    def second() -> None:
        order.append("second")

    @flow
    def f() -> None:
        a = first.submit()
        second.submit(wait_for=[a])

    f()
    assert order == ["first", "second"]


def test_map_submits_one_run_per_element() -> None:
    @task
    def add(x: int, y: int) -> int:
        return x + y

    @flow
    def f() -> list[int]:
        futures = add.map([1, 2, 3], unmapped(10))
        assert len(futures) == 3
        return futures.result()

    assert f() == [11, 12, 13]


def test_map_rejects_different_lengths() -> None:
    @task
    def add(x: int, y: int) -> int:
        return x + y

    @flow
    def f() -> None:
        add.map([1, 2], [1, 2, 3])

    with pytest.raises(MappingLengthMismatch, match="'x': 2, 'y': 3"):
        f()


def test_return_state_on_a_task_call() -> None:
    @flow
    def f() -> State[int]:
        return double(2, return_state=True)

    state = f(return_state=True)
    assert state.is_completed()
    assert state.result() == 4


def test_task_run_names_use_key_hash_and_dynamic_index(backend: MemoryBackend) -> None:
    @task(name="Print Hello")
    def print_hello() -> None:
        pass

    @flow
    def f() -> None:
        print_hello()
        print_hello.submit().wait()
        print_hello()

    f()
    names = sorted(run.name for run in backend.task_runs.values())
    hash8 = print_hello.key_hash
    assert len(hash8) == 8
    assert names == [f"Print Hello-{hash8}-{i}" for i in range(3)]


def test_task_run_name_option_and_runtime() -> None:
    seen: dict[str, Any] = {}

    @task(task_run_name="double-{x}", tags=["math"])
    def named(x: int) -> None:
        seen.update(
            name=runtime_task_run.name,
            task_name=runtime_task_run.task_name,
            parameters=runtime_task_run.parameters,
            tags=runtime_task_run.tags,
            id=runtime_task_run.id,
        )

    @flow
    def f() -> None:
        named(7)

    f()
    assert seen["name"] == "double-7" and seen["task_name"] == "named"
    assert seen["parameters"] == {"x": 7} and seen["tags"] == ["math"]
    assert len(seen["id"]) == 36
    assert runtime_task_run.id is None


def test_retries_with_a_list_of_delays(backend: MemoryBackend) -> None:
    attempts: list[float] = []

    @task(retries=2, retry_delay_seconds=[0.01, 0.02])
    def flaky() -> str:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "ok"

    @flow
    def f() -> str:
        return flaky()

    assert f() == "ok"
    assert len(attempts) == 3
    run = next(iter(backend.task_runs.values()))
    names = [state.name for state in backend.task_run_states[run.id]]
    assert names == [
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert run.run_count == 3


def test_retry_delay_forms() -> None:
    assert Task(double.fn, retries=3, retry_delay_seconds=2).retry_delays == [2.0]
    assert Task(double.fn, retries=3, retry_delay_seconds=[1, 2]).retry_delays == [1.0, 2.0]
    backoff = Task(double.fn, retries=3, retry_delay_seconds=exponential_backoff(1))
    assert backoff.retry_delays == [1.0, 2.0, 4.0]
    with pytest.raises(ValueError, match="retry_delay_seconds"):
        Task(double.fn, retries=1, retry_delay_seconds=-1)


def test_retry_jitter_stays_within_the_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    calls = []

    @task(retries=5, retry_delay_seconds=10, retry_jitter_factor=0.5)
    def flaky() -> None:
        calls.append(1)
        if len(calls) <= 5:
            raise RuntimeError("again")

    @flow
    def f() -> None:
        flaky()

    f()
    assert len(slept) == 5
    assert all(5.0 <= delay <= 15.0 for delay in slept)


def test_task_hooks_and_on_failure_only_after_last_retry() -> None:
    events: list[tuple[str, str, int]] = []

    def record(kind: str) -> Any:
        def hook(tsk: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> None:
            events.append((kind, state.name, task_run.run_count))

        return hook

    @task(retries=2, on_failure=[record("failure")])
    def always_fails() -> None:
        raise RuntimeError("no")

    @task(on_completion=[record("completion")])
    def fine() -> None:
        pass

    @flow
    def f() -> None:
        always_fails(return_state=True)
        fine()

    f(return_state=True)
    assert events == [("failure", "Failed", 3), ("completion", "Completed", 1)]


def test_a_failing_hook_does_not_change_the_state(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(tsk: Any, task_run: Any, state: Any) -> None:
        raise RuntimeError("hook broke")

    @task(on_completion=[broken])
    def fine() -> int:
        return 1

    @flow
    def f() -> int:
        return fine()

    assert f() == 1
    assert "An error was encountered while running hook 'broken'" in capsys.readouterr().err


def test_task_timeout_stops_a_submitted_body() -> None:
    progress: list[int] = []

    @task(timeout_seconds=0.2)
    def slow() -> None:
        for step in range(300):
            time.sleep(0.01)
            progress.append(step)

    @flow
    def f() -> State[Any]:
        return slow.submit().wait()

    started = time.monotonic()
    state = f(return_state=True)
    elapsed = time.monotonic() - started
    inner = state.data
    assert inner.name == "TimedOut" and inner.type is StateType.FAILED
    assert inner.message == "Task run exceeded timeout of 0.2 second(s)"
    assert isinstance(inner.data, TimeoutError)
    # The flow run joins its task runner's threads before it returns, so a body that kept
    # running would have completed all 300 steps (3 s) by now.
    assert len(progress) < 300 and elapsed < 2.5


def test_task_timeout_in_the_flow_thread_interrupts_sleep() -> None:
    @task(timeout_seconds=0.2)
    def sleeper() -> None:
        time.sleep(30)

    @flow
    def f() -> None:
        sleeper()

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"exceeded timeout of 0\.2"):
        f()
    assert time.monotonic() - started < 5


def test_persisted_results_are_read_back_by_a_rerun_of_the_same_run() -> None:
    from kflow.engine.flow_calls import run_flow

    calls: list[int] = []

    @task(persist_result=True)
    def expensive(x: int) -> dict[str, int]:
        calls.append(x)
        return {"value": x * 10}

    @flow
    def f() -> int:
        return expensive(4)["value"] + expensive(5)["value"]

    first = run_flow(f, {}, flow_run_id="rerun-1")
    second = run_flow(f, {}, flow_run_id="rerun-1")
    assert first.result() == second.result() == 90
    assert calls == [4, 5]
    other = run_flow(f, {}, flow_run_id="rerun-2")
    assert other.result() == 90 and calls == [4, 5, 4, 5]


def test_flow_persist_result_applies_to_its_tasks(backend: MemoryBackend) -> None:
    from kflow.engine.flow_calls import run_flow

    @flow(persist_result=True)
    def f() -> int:
        return double(3)

    run_flow(f, {}, flow_run_id="persisted-flow")
    state = run_flow(f, {}, flow_run_id="persisted-flow")
    assert state.result() == 6
    cached = [
        s.name for states in backend.task_run_states.values() for s in states if s.is_completed()
    ]
    assert cached == ["Completed", "Cached"]
    assert backend.result_store().read("persisted-flow/flow") == (True, 6)


def test_sequential_task_runner_runs_submitted_tasks_in_place() -> None:
    threads: list[int] = []

    @task
    def where() -> None:
        threads.append(threading.get_ident())

    @flow(task_runner=SequentialTaskRunner())
    def f() -> None:
        future = where.submit()
        assert future.done()

    f()
    assert threads == [threading.get_ident()]
