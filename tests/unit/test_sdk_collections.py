"""Futures and states inside collections: passed on as values, returned as final states.

`total(square.map(xs))` is the most common Prefect pattern: the list `.map()` returns, and any
list, tuple, set or dict holding futures or states, reaches a task call, `.submit`, `.map` or a
subflow as the values; a flow that returns such a structure keeps each run's final state.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, NamedTuple

import pytest
from kflow import allow_failure, flow, task, unmapped
from kflow.backend import MemoryBackend
from kflow.exceptions import UpstreamTaskError
from kflow.futures import TaskRunFuture
from kflow.states import State, StateType

from tests.support.passed_futures import resolved_on_entry

pytestmark = pytest.mark.usefixtures("backend")


@task
def square(x: int) -> int:
    return x * x


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@task
def boom() -> int:
    raise ValueError("boom")


@task
def echo(value: Any) -> Any:
    return value


class Point(NamedTuple):
    x: Any
    y: Any


# -- passed on: task calls, .submit, .map ----------------------------------------------------


def test_a_map_result_passed_to_a_task_call_arrives_as_values() -> None:
    @flow
    def f() -> int:
        return total(resolved_on_entry(square.map([1, 2, 3])))

    assert f() == 14


def test_a_map_result_passed_to_submit_arrives_as_values() -> None:
    @flow
    def f() -> int:
        return total.submit(resolved_on_entry(square.map([1, 2, 3]))).result()

    assert f() == 14


def test_a_map_result_passed_whole_to_map_through_unmapped_arrives_as_values() -> None:
    @task
    def scaled_total(factor: int, xs: list[int]) -> int:
        return factor * sum(xs)

    @flow
    def f() -> list[int]:
        return scaled_total.map([1, 10], unmapped(square.map([1, 2, 3]))).result()

    assert f() == [14, 140]


def test_the_values_arrive_in_a_plain_list() -> None:
    @flow
    def f() -> Any:
        return echo(square.map([1, 2]))

    value = f()
    assert value == [1, 4] and type(value) is list


def test_nested_collections_keep_their_types() -> None:
    @flow
    def f() -> Any:
        two = square.submit(2)
        three = square(3, return_state=True)
        return echo(
            {
                "list": [two, [three, 5]],
                "tuple": (two, "x"),
                "set": {square.submit(4), 1},
                "frozenset": frozenset({two}),
                "point": Point(two, three),
                "maps": [square.map([1, 2]), square.map([3])],
            }
        )

    value = f()
    assert value == {
        "list": [4, [9, 5]],
        "tuple": (4, "x"),
        "set": {16, 1},
        "frozenset": frozenset({4}),
        "point": Point(4, 9),
        "maps": [[1, 4], [9]],
    }
    assert type(value["tuple"]) is tuple and type(value["point"]) is Point
    assert type(value["frozenset"]) is frozenset and type(value["set"]) is set


def test_plain_data_reaches_the_task_as_the_same_object() -> None:
    big = {"rows": [[i, str(i)] for i in range(1000)], "meta": ("a", 1)}
    seen: list[Any] = []

    @task
    def keep(data: Any) -> None:
        seen.append(data)

    @flow
    def f() -> None:
        keep(big)
        keep.submit(big).wait()

    f()
    assert len(seen) == 2 and seen[0] is big and seen[1] is big


def test_wait_for_looks_into_a_map_result() -> None:
    ran: list[str] = []

    @task
    def last() -> None:
        ran.append("last")

    @task
    def positive(x: int) -> int:
        if x < 0:
            raise ValueError(x)
        return x

    @flow
    def f() -> tuple[State[Any], str]:
        upstream = positive.map([1, -1])
        return last.submit(wait_for=[upstream]).wait(), _upstream_message(upstream[1])

    state, expected = f(return_state=True).data
    assert state.type is StateType.FAILED and state.message == expected
    assert ran == []


# -- passed on: subflows ---------------------------------------------------------------------


def test_a_subflow_receives_a_map_result_as_a_list_of_ints() -> None:
    received: list[Any] = []

    @flow
    def child(xs: list[int]) -> int:
        received.append(xs)
        return sum(xs)

    @flow
    def parent() -> int:
        return child(resolved_on_entry(square.map([1, 2, 3])))

    assert parent() == 14
    assert received == [[1, 4, 9]] and type(received[0]) is list


def test_a_dict_of_futures_returned_by_a_subflow_can_be_passed_to_a_task() -> None:
    @flow
    def child() -> dict[str, Any]:
        return {"a": square.submit(2), "b": square.map([1, 3])}

    @task
    def add_up(parts: dict[str, Any]) -> int:
        squares: list[int] = parts["b"]
        return int(parts["a"]) + sum(squares)

    @flow
    def parent() -> int:
        return add_up(child())

    assert parent() == 4 + 1 + 9


def test_a_subflow_returning_a_list_of_futures_gives_its_caller_the_values() -> None:
    @flow
    def child() -> Any:
        return square.map([1, 2, 3])

    @flow
    def parent() -> int:
        squares = child()
        assert squares == [1, 4, 9]
        return total(squares)

    assert parent() == 14


# -- a failed upstream -----------------------------------------------------------------------


def _upstream_message(future: TaskRunFuture[Any]) -> str:
    return f"Upstream task run {future.task_run.name!r} did not reach a 'COMPLETED' state."


def test_a_failed_future_in_a_list_stops_the_downstream_call() -> None:
    ran: list[Any] = []

    @task
    def consume(values: list[Any]) -> None:
        ran.append(values)

    @flow
    def f() -> tuple[State[Any], str]:
        bad = boom.submit()
        state = consume([square.submit(2), bad], return_state=True)
        return state, _upstream_message(bad)

    state, expected = f(return_state=True).data
    assert state.type is StateType.FAILED
    assert state.message == expected
    assert ran == []


def test_a_failed_future_in_a_submitted_or_mapped_input_stops_the_downstream_runs() -> None:
    ran: list[Any] = []

    @task
    def consume(x: int, values: list[Any]) -> None:
        ran.append(values)

    @flow
    def f() -> tuple[Any, Any, str]:
        bad = boom.submit()
        submitted = consume.submit(0, [bad]).wait()
        mapped = consume.map([1, 2], unmapped({"k": (bad,)})).wait()
        return submitted, mapped, _upstream_message(bad)

    state = f(return_state=True)
    submitted, mapped, expected = state.result(raise_on_failure=False)
    assert [s.message for s in (submitted, *mapped)] == [expected] * 3
    assert all(s.type is StateType.FAILED for s in (submitted, *mapped))
    assert ran == []


def test_a_failed_upstream_raises_in_the_flow_calling_the_downstream() -> None:
    @flow
    def f() -> int:
        return total(resolved_on_entry([square.submit(1), boom.submit()]))

    state = f(return_state=True)
    assert state.is_failed()
    assert "UpstreamFailed: Upstream task run 'boom-" in str(state.message)
    with pytest.raises(UpstreamTaskError, match=r"did not reach a 'COMPLETED' state"):
        state.result()


def test_a_failed_state_in_a_dict_names_its_task_run() -> None:
    @flow
    def f() -> tuple[State[Any], State[Any]]:
        bad = boom(return_state=True)
        return bad, echo({"v": [bad]}, return_state=True)

    bad, downstream = f(return_state=True).data
    assert downstream.type is StateType.FAILED
    assert downstream.message == (
        f"Upstream task run {bad.state_details.task_run_id!r} did not reach a 'COMPLETED' state."
    )


def test_a_failed_upstream_stops_a_subflow_before_its_body(backend: MemoryBackend) -> None:
    ran: list[Any] = []

    @flow
    def child(xs: list[int]) -> int:
        ran.append(xs)
        return sum(xs)

    @flow
    def parent() -> tuple[State[Any], str]:
        bad = boom.submit()
        return child([bad, 1], return_state=True), _upstream_message(bad)

    state = parent(return_state=True)
    child_state, expected = state.data
    assert child_state.type is StateType.FAILED and child_state.message == expected
    assert ran == []
    child_run = next(r for r in backend.flow_runs.values() if r.flow_name == "child")
    history = [s.type for s in backend.flow_run_states[child_run.id]]
    assert history == [StateType.PENDING, StateType.FAILED]


def test_allow_failure_gives_the_downstream_the_exception() -> None:
    @flow
    def f() -> tuple[Any, Any]:
        bad = boom.submit()
        ok = square.submit(3)
        whole = echo(allow_failure([ok, bad]))
        inner = echo.submit({"x": [allow_failure(bad), ok]}).result()
        return whole, inner

    whole, inner = f()
    assert whole[0] == 9 and isinstance(whole[1], ValueError) and str(whole[1]) == "boom"
    assert isinstance(inner["x"][0], ValueError) and inner["x"][1] == 9


def test_allow_failure_around_a_map_result_in_map() -> None:
    @task
    def count_errors(k: int, values: list[Any]) -> int:
        return k + sum(isinstance(v, ValueError) for v in values)

    @flow
    def f() -> list[int]:
        upstream = [boom.submit(), square.submit(1)]
        return count_errors.map([0, 10], unmapped(allow_failure(upstream))).result()

    assert f() == [1, 11]


# -- returned: the flow's final state holds the returned runs' states ------------------------


def test_a_returned_tuple_of_futures_gives_back_its_states() -> None:
    @flow
    def f() -> tuple[Any, Any]:
        return square.submit(2), boom.submit()

    state = f(return_state=True)
    assert str(state) == "Failed('1/2 states failed.')"
    good, bad = state.result(raise_on_failure=False)
    assert isinstance(good, State) and good.is_completed() and good.result() == 4
    assert isinstance(bad, State) and bad.is_failed()
    assert isinstance(bad.result(raise_on_failure=False), ValueError)
    with pytest.raises(ValueError, match="boom"):
        state.result()


def test_a_returned_map_result_gives_back_a_list_of_states() -> None:
    @flow
    def f() -> Any:
        return square.map([1, 2, 3])

    state = f(return_state=True)
    assert str(state) == "Completed('All states completed.')"
    states = state.result(raise_on_failure=False)
    assert type(states) is list and [s.result() for s in states] == [1, 4, 9]
    assert all(isinstance(s, State) and s.is_completed() for s in states)
    assert state.result() == [1, 4, 9]
    assert f() == [1, 4, 9]


def test_a_returned_dict_of_futures_gives_back_a_dict_of_states() -> None:
    @flow
    def f() -> dict[str, Any]:
        return {"good": square.submit(2), "bad": boom.submit(), "plain": 7}

    state = f(return_state=True)
    # The spec: states in a collection other than a list, tuple or set are not checked.
    assert str(state) == "Completed()"
    returned = state.result(raise_on_failure=False)
    assert set(returned) == {"good", "bad", "plain"} and returned["plain"] == 7
    assert returned["good"].is_completed() and returned["good"].result() == 4
    assert returned["bad"].is_failed()


def test_a_returned_single_failed_future_gives_back_its_state() -> None:
    @flow
    def f() -> Any:
        return boom.submit()

    state = f(return_state=True)
    assert str(state) == "Failed('1/1 states failed.')"
    returned = state.result(raise_on_failure=False)
    assert isinstance(returned, State) and returned.is_failed()


def test_returning_none_gives_back_the_states_that_did_not_complete() -> None:
    @flow
    def f() -> None:
        square.submit(2)
        boom.submit()

    state = f(return_state=True)
    assert str(state) == "Failed('1/2 states failed.')"
    (failed,) = state.result(raise_on_failure=False)
    assert isinstance(failed, State) and failed.is_failed()


def test_a_returned_named_tuple_of_futures_keeps_its_class() -> None:
    @flow
    def f() -> Point:
        return Point(square.submit(2), square.submit(3))

    state = f(return_state=True)
    assert str(state) == "Completed('All states completed.')"
    assert type(state.result(raise_on_failure=False)) is Point
    assert f() == Point(4, 9)


# -- async -----------------------------------------------------------------------------------


@task
async def async_total(xs: list[int]) -> int:
    await asyncio.sleep(0)
    return sum(xs)


def test_async_flow_passes_a_map_result_to_async_and_sync_tasks_and_subflows() -> None:
    @flow
    async def child(xs: list[int]) -> int:
        return sum(xs)

    @flow
    async def f() -> tuple[int, int, int, int]:
        squares = square.map([1, 2, 3])
        return (
            await async_total(resolved_on_entry(squares)),
            await async_total.submit(resolved_on_entry(squares)),
            total(resolved_on_entry(squares)),
            await child(resolved_on_entry(squares)),
        )

    assert asyncio.run(f()) == (14, 14, 14, 14)


def test_async_flow_returning_futures_gives_back_their_states() -> None:
    @flow
    async def f() -> tuple[Any, Any]:
        return async_total.submit(resolved_on_entry(square.map([1, 2]))), boom.submit()

    state = asyncio.run(f(return_state=True))
    assert str(state) == "Failed('1/2 states failed.')"
    good, bad = state.result(raise_on_failure=False)
    assert good.result() == 5 and bad.is_failed()


def test_async_task_waits_for_unfinished_nested_futures_off_the_event_loop() -> None:
    released = threading.Event()

    @task
    def gated(x: int) -> int:
        # Only a coroutine on the flow's event loop releases it: if the downstream task waited
        # for this future on the loop itself, the loop would be stuck and this would time out.
        return x if released.wait(timeout=10) else -1

    async def release_from_the_loop() -> None:
        await asyncio.sleep(0)
        released.set()

    @flow
    async def f() -> int:
        releasing = asyncio.create_task(release_from_the_loop())
        result = await async_total(resolved_on_entry([gated.submit(2)]))
        await releasing
        return result

    assert asyncio.run(f()) == 2


def test_async_subflow_waits_for_unfinished_inputs_off_the_event_loop() -> None:
    released = threading.Event()
    received: list[Any] = []

    @task
    def gated(x: int) -> int:
        return x if released.wait(timeout=10) else -1

    @flow
    async def child(xs: list[int]) -> int:
        received.append(xs)
        return sum(xs)

    async def release_from_the_loop() -> None:
        await asyncio.sleep(0)
        released.set()

    @flow
    async def parent() -> int:
        releasing = asyncio.create_task(release_from_the_loop())
        result = await child(resolved_on_entry(gated.map([2, 3])))
        await releasing
        return result

    assert asyncio.run(parent()) == 5
    assert received == [[2, 3]]


def test_async_subflow_with_a_failed_unfinished_input_does_not_run() -> None:
    released = threading.Event()
    ran: list[Any] = []

    @task
    def gated_boom() -> int:
        released.wait(timeout=10)
        raise ValueError("boom")

    @flow
    async def child(xs: list[int]) -> int:
        ran.append(xs)
        return sum(xs)

    @flow
    async def parent() -> tuple[State[Any], str]:
        upstream = gated_boom.submit()
        asyncio.get_running_loop().call_soon(released.set)
        return await child([upstream], return_state=True), _upstream_message(upstream)

    child_state, expected = asyncio.run(parent(return_state=True)).data
    assert child_state.type is StateType.FAILED and child_state.message == expected
    assert ran == []
