"""Flows: options, names, parameters, retries, hooks, timeouts, subflows, runtime."""

from __future__ import annotations

import datetime
import re
import threading
import time
from typing import Any

import pytest
from kflow import flow, task
from kflow.backend import FlowRun, MemoryBackend
from kflow.engine.flow_calls import run_flow
from kflow.exceptions import ParameterTypeError
from kflow.flows import Flow
from kflow.names import ADJECTIVES, ANIMALS
from kflow.runtime import flow_run as runtime_flow_run
from kflow.states import State, StateType
from kflow.task_runners import ConcurrentTaskRunner, SequentialTaskRunner, ThreadPoolTaskRunner
from pydantic import BaseModel

from tests.support.passed_futures import resolved_on_entry

pytestmark = pytest.mark.usefixtures("backend")


def only_run(backend: MemoryBackend) -> FlowRun:
    (run,) = backend.flow_runs.values()
    return run


def state_types(backend: MemoryBackend, run: FlowRun) -> list[StateType]:
    return [state.type for state in backend.flow_run_states[run.id]]


def test_defaults_from_the_function() -> None:
    @flow
    def my_nice_flow() -> None:
        """Does nice things.

        In detail."""

    assert my_nice_flow.name == "my-nice-flow"
    assert my_nice_flow.description == "Does nice things.\n\nIn detail."
    assert my_nice_flow.version is not None and len(my_nice_flow.version) == 32
    assert isinstance(my_nice_flow.task_runner, ThreadPoolTaskRunner)
    assert ConcurrentTaskRunner is ThreadPoolTaskRunner

    @flow(
        name="My Flow",
        description="My flow using SequentialTaskRunner",
        version="1.2",
        task_runner=SequentialTaskRunner(),
    )
    def other() -> None:
        """Not the description."""

    assert (other.name, other.description, other.version) == (
        "My Flow",
        "My flow using SequentialTaskRunner",
        "1.2",
    )


def test_generated_run_names_are_adjective_animal(backend: MemoryBackend) -> None:
    @flow
    def f() -> None:
        pass

    f()
    adjective, animal = only_run(backend).name.split("-")
    assert adjective in ADJECTIVES and animal in ANIMALS


def test_flow_run_name_template(backend: MemoryBackend) -> None:
    @flow(flow_run_name="{name}-on-{date:%A}")
    def my_flow(name: str, date: datetime.datetime) -> None:
        pass

    my_flow(name="marvin", date=datetime.datetime(2021, 1, 7))
    assert only_run(backend).name == "marvin-on-Thursday"


def test_flow_run_name_callable_with_runtime(backend: MemoryBackend) -> None:
    def generate_flow_run_name() -> str:
        parameters = runtime_flow_run.parameters
        return f"{runtime_flow_run.flow_name}-with-{parameters['name']}-and-{parameters['limit']}"

    @flow(flow_run_name=generate_flow_run_name)
    def my_flow(name: str, limit: int = 100) -> None:
        pass

    my_flow(name="marvin")
    assert only_run(backend).name == "my-flow-with-marvin-and-100"


def test_bad_flow_run_name_template_says_what_is_allowed() -> None:
    @flow(flow_run_name="{nope}")
    def my_flow(name: str) -> None:
        pass

    with pytest.raises(ValueError, match=r"only use the flow's parameter names \(name\)"):
        my_flow("x")


def test_runtime_flow_run_inside_and_outside(backend: MemoryBackend) -> None:
    seen: dict[str, Any] = {}

    @flow(tags=["nightly"])
    def f(x: int) -> None:
        seen.update(
            id=runtime_flow_run.id,
            name=runtime_flow_run.name,
            flow_name=runtime_flow_run.flow_name,
            parameters=runtime_flow_run.parameters,
            tags=runtime_flow_run.tags,
            scheduled=runtime_flow_run.scheduled_start_time,
            run_count=runtime_flow_run.run_count,
        )

    f(3)
    run = only_run(backend)
    assert seen["id"] == run.id and seen["name"] == run.name and seen["flow_name"] == "f"
    assert seen["parameters"] == {"x": 3} and seen["tags"] == ["nightly"]
    assert isinstance(seen["scheduled"], datetime.datetime) and seen["run_count"] == 1
    assert runtime_flow_run.id is None and runtime_flow_run.parameters == {}
    with pytest.raises(AttributeError, match="available"):
        _ = runtime_flow_run.no_such_thing


class Model(BaseModel):
    a: int
    b: float
    c: str


def test_parameters_are_validated_and_coerced() -> None:
    @flow
    def typed(x: int, model: Model, when: datetime.datetime) -> tuple[Any, Any, Any]:
        return x, model, when

    x, model, when = typed("5", {"a": 1, "b": 2, "c": "s"}, "2021-01-01T02:00:19.180906")  # type: ignore[call-overload]
    assert x == 5
    assert model == Model(a=1, b=2.0, c="s")
    assert when == datetime.datetime(2021, 1, 1, 2, 0, 19, 180906)


def test_what_day_is_it_with_a_none_default(capsys: pytest.CaptureFixture[str]) -> None:
    @flow
    def what_day_is_it(date: datetime.datetime = None) -> None:  # type: ignore[assignment]  # noqa: RUF013 - the spec writes it so
        if date is None:
            date = datetime.datetime.now(datetime.UTC)
        print(f"It was {date.strftime('%A')} on {date.isoformat()}")

    what_day_is_it("2021-01-01T02:00:19.180906")  # type: ignore[call-overload]
    what_day_is_it()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "It was Friday on 2021-01-01T02:00:19.180906"
    assert out[1].startswith("It was ")


def test_positional_and_keyword_arguments_become_one_dict(backend: MemoryBackend) -> None:
    @flow
    def f(a: int, b: str = "x", *rest: int, c: bool = False, **extra: Any) -> None:
        pass

    f(1, "y", 2, 3, c=True, d=4)
    assert only_run(backend).parameters == {
        "a": 1,
        "b": "y",
        "rest": (2, 3),
        "c": True,
        "extra": {"d": 4},
    }


def test_invalid_parameters_fail_the_run_without_running(backend: MemoryBackend) -> None:
    ran: list[int] = []

    @flow
    def f(x: int) -> None:
        ran.append(x)

    state = f("five", return_state=True)
    assert state.is_failed()
    assert state.message is not None
    assert "x: Input should be a valid integer" in state.message
    assert "'five'" in state.message
    with pytest.raises(ParameterTypeError, match="invalid parameters"):
        state.result()
    assert not ran
    run = only_run(backend)
    assert StateType.RUNNING not in state_types(backend, run)
    assert state_types(backend, run) == [StateType.PENDING, StateType.FAILED]


def test_validation_can_be_turned_off() -> None:
    @flow(validate_parameters=False)
    def f(x: int) -> Any:
        return x

    assert f("5") == "5"  # type: ignore[call-overload]


def test_binding_errors_raise_at_call_time() -> None:
    @flow
    def f(x: int) -> None:
        pass

    with pytest.raises(TypeError, match="missing a required argument: 'x'"):
        f()  # type: ignore[call-overload]


def test_run_flow_runs_a_pre_existing_run(backend: MemoryBackend) -> None:
    @flow
    def f(x: int, y: int = 1) -> int:
        return x + y

    state = run_flow(f, {"x": "5"}, flow_run_id="fr-123", flow_run_name="nightly-run")
    assert state.result() == 6
    run = backend.flow_runs["fr-123"]
    assert run.existing and run.name == "nightly-run" and run.parameters == {"x": 5, "y": 1}
    assert state_types(backend, run) == [StateType.RUNNING, StateType.COMPLETED]


def test_run_flow_with_unknown_parameters_fails_without_running(backend: MemoryBackend) -> None:
    @flow
    def f(x: int) -> int:
        return x

    state = run_flow(f, {"x": 1, "z": 2}, flow_run_id="fr-bad")
    assert state.is_failed()
    assert "unexpected keyword argument 'z'" in (state.message or "")
    assert state_types(backend, backend.flow_runs["fr-bad"]) == [StateType.FAILED]


def test_flow_retries_and_on_failure_only_after_the_last_retry(backend: MemoryBackend) -> None:
    calls: list[int] = []
    failures: list[tuple[str, int]] = []

    def notify(flw: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
        failures.append((state.name, flow_run.run_count))

    @flow(on_failure=[notify], retries=2, retry_delay_seconds=0)
    def noisy_flow() -> None:
        calls.append(1)
        raise ValueError("oops!")

    state = noisy_flow(return_state=True)
    assert state.is_failed() and len(calls) == 3
    assert failures == [("Failed", 3)]
    names = [s.name for s in backend.flow_run_states[only_run(backend).id]]
    assert names == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Failed",
    ]


def test_flow_retry_that_succeeds() -> None:
    calls: list[int] = []

    @flow(retries=1)
    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first time")
        return "ok"

    assert flaky() == "ok"


def test_flow_hooks_receive_flow_run_and_state() -> None:
    events: list[tuple[str, str, str]] = []

    def hook(kind: str) -> Any:
        def run(flw: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
            events.append((kind, flw.name, state.type.value))
            assert flow_run.expected_start_time is not None

        return run

    @flow(on_running=[hook("running")], on_completion=[hook("completion")])
    def good() -> None:
        pass

    @flow(on_failure=[hook("failure")])
    def bad() -> None:
        raise RuntimeError("x")

    @flow(on_crashed=[hook("crashed")])
    def crashes() -> None:
        raise KeyboardInterrupt

    good()
    bad(return_state=True)
    with pytest.raises(KeyboardInterrupt):
        crashes()
    assert events == [
        ("running", "good", "RUNNING"),
        ("completion", "good", "COMPLETED"),
        ("failure", "bad", "FAILED"),
        ("crashed", "crashes", "CRASHED"),
    ]


def test_flow_timeout_stops_the_body() -> None:
    after: list[int] = []

    @flow(timeout_seconds=0.2)
    def slow() -> None:
        time.sleep(30)
        after.append(1)

    started = time.monotonic()
    state = slow(return_state=True)
    assert time.monotonic() - started < 5
    assert state.name == "TimedOut" and state.type is StateType.FAILED
    assert state.message == "Flow run exceeded timeout of 0.2 second(s)"
    assert not after
    with pytest.raises(TimeoutError):
        state.result()


def test_flow_timeout_stops_submitted_tasks() -> None:
    progress: list[int] = []

    @task
    def busy() -> None:
        for step in range(300):
            time.sleep(0.01)
            progress.append(step)

    @flow(timeout_seconds=0.2)
    def f() -> None:
        busy.submit().wait()

    started = time.monotonic()
    state = f(return_state=True)
    assert state.name == "TimedOut"
    assert time.monotonic() - started < 2.5
    deadline = time.monotonic() + 5
    while any(t.name.startswith("kflow-task") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the task thread is still running"
        time.sleep(0.01)
    assert len(progress) < 300  # stopped, not left running unseen


def test_subflow_is_linked_both_ways(backend: MemoryBackend) -> None:
    @flow(name="Subflow")
    def child(msg: str) -> str:
        return msg.upper()

    @flow
    def parent() -> str:
        return child("hi")

    assert parent() == "HI"
    child_run = next(r for r in backend.flow_runs.values() if r.flow_name == "Subflow")
    parent_run = next(r for r in backend.flow_runs.values() if r.flow_name == "parent")
    (mirror,) = backend.task_runs.values()
    assert mirror.child_flow_run_id == child_run.id
    assert mirror.flow_run_id == parent_run.id
    assert child_run.parent_task_run_id == mirror.id
    assert child_run.parent_flow_run_id == parent_run.id
    mirror_final = backend.task_run_states[mirror.id][-1]
    assert mirror_final.is_completed()
    assert mirror_final.state_details.child_flow_run_id == child_run.id
    child_final = backend.flow_run_states[child_run.id][-1]
    assert child_final.state_details.parent_task_run_id == mirror.id
    assert backend.flushes == 1  # once, when the top-level run ended


def test_futures_passed_to_a_subflow_arrive_as_data() -> None:
    @task
    def make() -> list[int]:
        return [1, 2]

    @flow
    def child(values: list[int]) -> int:
        assert values == [1, 2]
        return sum(values)

    @flow
    def parent() -> int:
        return child(resolved_on_entry(make.submit()))

    assert parent() == 3


def test_failed_subflow_fails_the_parent_with_its_exception() -> None:
    @flow
    def child() -> None:
        raise KeyError("deep")

    @flow
    def parent() -> None:
        child()

    state = parent(return_state=True)
    assert state.is_failed()
    assert state.message == "Flow run encountered an exception. KeyError: 'deep'"


def test_subflow_counts_in_the_parent_final_state() -> None:
    @flow
    def child() -> None:
        raise KeyError("deep")

    @flow
    def parent() -> None:
        child(return_state=True)

    assert str(parent(return_state=True)) == "Failed('1/1 states failed.')"


def test_log_prints_routes_print_to_the_run_logger(capsys: pytest.CaptureFixture[str]) -> None:
    @task
    def shout() -> None:
        print("from the task")

    @flow(log_prints=True)
    def f() -> None:
        print("from the flow")
        shout()

    f()
    print("outside")
    out, err = capsys.readouterr()
    assert out == "outside\n"
    assert re.search(r"\| INFO    \| Flow run '[a-z-]+' - from the flow$", err, re.M)
    assert re.search(r"\| INFO    \| Task run 'shout-[0-9a-f]{8}-0' - from the task$", err, re.M)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="timeout_seconds must be > 0"):
        flow(timeout_seconds=0)(lambda: None)
    with pytest.raises(TypeError, match="task_runner must be a task runner instance"):
        flow(task_runner=SequentialTaskRunner)(lambda: None)  # type: ignore[call-overload]


def test_a_timeout_keeps_an_alarm_set_by_someone_else() -> None:
    import signal

    rang: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: rang.append(signum))
    remaining, interval = signal.getitimer(signal.ITIMER_REAL)
    signal.setitimer(signal.ITIMER_REAL, 0.6)
    try:

        @flow(timeout_seconds=0.1)
        def slow() -> None:
            time.sleep(5)

        assert slow(return_state=True).name == "TimedOut"
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0  # the other alarm is armed again
        deadline = time.monotonic() + 5
        while not rang:
            assert time.monotonic() < deadline, "the other alarm never rang"
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGALRM, previous)
        signal.setitimer(signal.ITIMER_REAL, remaining, interval)
