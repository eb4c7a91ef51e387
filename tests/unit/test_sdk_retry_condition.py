"""`@task(retry_condition_fn=f)`: a failed run is retried only when f(task, task_run, state)
says so; an f that raises means no retry, as in Prefect."""

from __future__ import annotations

from typing import Any

import pytest
from kflow import flow, task
from kflow.backend import MemoryBackend, TaskRun
from kflow.states import State

pytestmark = pytest.mark.usefixtures("backend")


class Transient(Exception):
    pass


def only_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    return isinstance(state.data, Transient)


def test_retries_only_while_the_condition_holds(backend: MemoryBackend) -> None:
    errors = iter([Transient("timeout"), Transient("timeout"), ValueError("bad input")])
    seen: list[tuple[str, int, str]] = []

    def condition(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
        seen.append((task.name, task_run.run_count, state.type.value))
        return only_transient(task, task_run, state)

    @task(retries=5, retry_condition_fn=condition)
    def flaky() -> None:
        raise next(errors)

    @flow
    def run() -> None:
        flaky()

    with pytest.raises(ValueError, match="bad input"):
        run()
    assert seen == [("flaky", 1, "FAILED"), ("flaky", 2, "FAILED"), ("flaky", 3, "FAILED")]
    (task_run,) = backend.task_runs.values()
    assert task_run.run_count == 3, "two retries, then the condition said no"


def test_a_true_condition_retries_up_to_retries() -> None:
    attempts: list[int] = []

    @task(retries=2, retry_condition_fn=lambda task, task_run, state: True)
    def always_fails() -> None:
        attempts.append(1)
        raise Transient("again")

    @flow
    def run() -> None:
        always_fails()

    with pytest.raises(Transient):
        run()
    assert len(attempts) == 3


def test_an_async_condition_is_awaited() -> None:
    attempts: list[int] = []

    async def never(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
        return False

    @task(retries=3, retry_condition_fn=never)
    def fails() -> None:
        attempts.append(1)
        raise Transient("x")

    @flow
    def run() -> None:
        fails()

    with pytest.raises(Transient):
        run()
    assert attempts == [1]


def test_a_condition_that_raises_means_no_retry_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []

    def broken(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
        raise RuntimeError("condition bug")

    @task(retries=3, retry_condition_fn=broken)
    def fails() -> None:
        attempts.append(1)
        raise Transient("x")

    @flow
    def run() -> None:
        fails()

    with pytest.raises(Transient):
        run()
    assert attempts == [1]
    assert any(
        "retry_condition_fn" in r.getMessage() and "condition bug" in r.getMessage()
        for r in caplog.records
    )


def test_async_tasks_honour_the_condition_too() -> None:
    import asyncio

    attempts: list[int] = []

    @task(retries=3, retry_condition_fn=only_transient)
    async def fetch() -> None:
        attempts.append(1)
        raise ValueError("not transient")

    @flow
    async def run() -> None:
        await fetch()

    with pytest.raises(ValueError):
        asyncio.run(run())
    assert attempts == [1]


def test_the_condition_must_be_callable_and_survives_with_options() -> None:
    with pytest.raises(TypeError, match="retry_condition_fn must be a function"):
        task(retry_condition_fn=True)(lambda: None)  # type: ignore[call-overload]
    t = task(retries=1, retry_condition_fn=only_transient)(lambda: None)
    assert t.with_options(retries=3).retry_condition_fn is only_transient
