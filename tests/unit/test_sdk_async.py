"""Async flows and tasks: awaiting, gather of subflows, timeouts, submits from async flows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, cast

import pytest
from kflow import flow, task
from kflow.backend import MemoryBackend
from kflow.states import State, StateType

pytestmark = pytest.mark.usefixtures("backend")


def as_awaitable(state: State[Any]) -> Awaitable[State[Any]]:
    """An async task called with `return_state=True` in an async flow gives a coroutine of its
    State; the call's static type, the one a sync task has too, says State. Only a typing
    statement: returns its argument."""
    return cast("Awaitable[State[Any]]", state)


@task
async def marvin_setup() -> str:
    return "a raft of ducks walk into a bar..."


@task
async def marvin_punchline() -> str:
    return "it's a wonder none of them ducked!"


def test_async_flow_awaits_async_tasks() -> None:
    @flow
    async def joke() -> tuple[str, str]:
        return await marvin_setup(), await marvin_punchline()

    assert asyncio.run(joke()) == (
        "a raft of ducks walk into a bar...",
        "it's a wonder none of them ducked!",
    )


def test_async_subflows_run_concurrently_under_gather(backend: MemoryBackend) -> None:
    spans: list[tuple[float, float]] = []

    @flow
    async def child(i: int) -> int:
        started = time.monotonic()
        await asyncio.sleep(0.1)
        spans.append((started, time.monotonic()))
        return i

    @flow
    async def parent() -> list[int]:
        return list(await asyncio.gather(child(1), child(2), child(3)))

    assert asyncio.run(parent()) == [1, 2, 3]
    # Side by side: every subflow started before any of them finished.
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    children = [r for r in backend.flow_runs.values() if r.flow_name == "child"]
    assert len(children) == 3
    assert len({r.parent_task_run_id for r in children}) == 3


def test_async_task_in_a_sync_flow_runs_to_completion() -> None:
    @flow
    def sync_parent() -> str:
        return marvin_setup()  # type: ignore[return-value]

    assert sync_parent() == "a raft of ducks walk into a bar..."


def test_async_subflow_in_a_sync_flow() -> None:
    @flow
    async def child() -> int:
        return 5

    @flow
    def parent() -> int:
        return child()  # type: ignore[return-value]

    assert parent() == 5


def test_submitting_async_tasks_from_an_async_flow() -> None:
    @task
    async def square(x: int) -> int:
        await asyncio.sleep(0.01)
        return x * x

    @flow
    async def parent() -> list[int]:
        futures = [square.submit(i) for i in range(4)]
        return [future.result() for future in futures] + [await futures[0]]

    assert asyncio.run(parent()) == [0, 1, 4, 9, 0]


def test_async_task_timeout_and_failure_states() -> None:
    @task(timeout_seconds=0.1)
    async def slow() -> None:
        await asyncio.sleep(10)

    @task(retries=1)
    async def fails() -> None:
        raise ValueError("async boom")

    @flow
    async def parent() -> None:
        timed_out = await as_awaitable(slow(return_state=True))
        assert timed_out.name == "TimedOut"
        assert timed_out.message == "Task run exceeded timeout of 0.1 second(s)"
        failed = await as_awaitable(fails(return_state=True))
        assert str(failed) == "Failed('Task run encountered an exception.')"

    state = asyncio.run(parent(return_state=True))
    assert str(state) == "Failed('2/2 states failed.')"


def test_async_flow_timeout() -> None:
    @flow(timeout_seconds=0.1)
    async def slow() -> None:
        await asyncio.sleep(10)

    state = asyncio.run(slow(return_state=True))
    assert state.name == "TimedOut" and state.type is StateType.FAILED
    assert state.message == "Flow run exceeded timeout of 0.1 second(s)"


def test_async_flow_retries_and_exception() -> None:
    calls: list[int] = []

    @flow(retries=1)
    async def flaky() -> None:
        calls.append(1)
        raise RuntimeError("async flow failed")

    with pytest.raises(RuntimeError, match="async flow failed"):
        asyncio.run(flaky())
    assert len(calls) == 2
