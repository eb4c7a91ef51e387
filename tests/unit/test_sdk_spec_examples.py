"""The spec's example flows (flows-concept.ja.md), ported by changing the import: same console
lines, same final states, same messages."""

from __future__ import annotations

import re

import pytest
from kflow import flow, task
from kflow.backend import MemoryBackend
from kflow.states import Completed, Failed, State

LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \| (\w+) +\| (.+?) - (.*)$")
RUN_NAME = r"[a-z]+-[a-z]+"


pytestmark = pytest.mark.usefixtures("backend")


def log_lines(err: str) -> list[tuple[str, str, str]]:
    """(level, label, message) of each console log line; traceback lines are skipped."""
    found = []
    for line in err.splitlines():
        match = LINE.match(line)
        if match:
            found.append((match.group(2), match.group(3), match.group(4)))
    return found


def test_hello_flow_with_a_task(capsys: pytest.CaptureFixture[str]) -> None:
    @task(name="Print Hello")
    def print_hello(name: str) -> str:
        msg = f"Hello {name}!"
        print(msg)
        return msg

    @flow(name="Hello Flow")
    def hello_world(name: str = "world") -> None:
        print_hello(name)

    assert hello_world("Marvin") is None
    out, err = capsys.readouterr()
    assert out == "Hello Marvin!\n"
    lines = log_lines(err)
    assert len(lines) == 5, err
    level, label, message = lines[0]
    assert (level, label) == ("INFO", "kflow.engine")
    run = re.fullmatch(rf"Created flow run '({RUN_NAME})' for flow 'Hello Flow'", message)
    assert run, message
    flow_label = f"Flow run '{run.group(1)}'"
    assert lines[1] == ("INFO", flow_label, "Using task runner 'ConcurrentTaskRunner'")
    created = re.fullmatch(
        r"Created task run '(Print Hello-[0-9a-f]{8}-0)' for task 'Print Hello'", lines[2][2]
    )
    assert created and lines[2][:2] == ("INFO", flow_label)
    assert lines[3] == ("INFO", f"Task run '{created.group(1)}'", "Finished in state Completed()")
    assert lines[4] == ("INFO", flow_label, "Finished in state Completed('All states completed.')")


def test_flow_without_tasks_and_its_default_name(capsys: pytest.CaptureFixture[str]) -> None:
    @flow
    def hello_world(name: str = "world") -> None:
        print(f"Hello {name}!")

    hello_world("Marvin")
    out, err = capsys.readouterr()
    lines = log_lines(err)
    assert re.fullmatch(rf"Created flow run '{RUN_NAME}' for flow 'hello-world'", lines[0][2])
    assert lines[-1][2] == "Finished in state Completed()"
    assert out == "Hello Marvin!\n"


def test_subflow_example(capsys: pytest.CaptureFixture[str], backend: MemoryBackend) -> None:
    @task(name="Print Hello")
    def print_hello(name: str) -> str:
        msg = f"Hello {name}!"
        print(msg)
        return msg

    @flow(name="Subflow")
    def my_subflow(msg: str) -> None:
        print(f"Subflow says: {msg}")

    @flow(name="Hello Flow")
    def hello_world(name: str = "world") -> None:
        message = print_hello(name)
        my_subflow(message)

    hello_world("Marvin")
    out, err = capsys.readouterr()
    assert out == "Hello Marvin!\nSubflow says: Hello Marvin!\n"
    lines = log_lines(err)
    parent_label = lines[1][1]
    sub = re.fullmatch(rf"Created subflow run '({RUN_NAME})' for flow 'Subflow'", lines[4][2])
    assert sub and lines[4][1] == parent_label
    assert lines[5] == ("INFO", f"Flow run '{sub.group(1)}'", "Finished in state Completed()")
    assert lines[6] == (
        "INFO",
        parent_label,
        "Finished in state Completed('All states completed.')",
    )


def test_raising_flow_fails_with_the_exception(capsys: pytest.CaptureFixture[str]) -> None:
    @flow
    def always_fails_flow() -> None:
        raise ValueError("This flow immediately fails")

    with pytest.raises(ValueError, match="This flow immediately fails"):
        always_fails_flow()
    err = capsys.readouterr().err
    lines = log_lines(err)
    assert lines[2][0] == "ERROR" and lines[2][2] == "Encountered exception during execution:"
    assert "Traceback (most recent call last):" in err
    assert "ValueError: This flow immediately fails" in err
    assert lines[-1] == (
        "ERROR",
        lines[1][1],
        "Finished in state Failed('Flow run encountered an exception. ValueError: This flow "
        "immediately fails')",
    )


@task
def always_fails_task() -> None:
    raise ValueError("I fail successfully")


@task
def always_succeeds_task() -> str:
    print("I'm fail safe!")
    return "success"


def test_returning_none_takes_the_state_of_the_task_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @flow
    def always_fails_flow() -> None:
        always_fails_task.submit().result(raise_on_failure=False)
        always_succeeds_task()

    state = always_fails_flow(return_state=True)
    assert str(state) == "Failed('1/2 states failed.')"
    with pytest.raises(ValueError, match="I fail successfully"):
        state.result()
    with pytest.raises(ValueError, match="I fail successfully"):
        always_fails_flow()
    lines = log_lines(capsys.readouterr().err)
    messages = [message for _, _, message in lines]
    assert any(m.startswith("Submitted task run 'always_fails_task-") for m in messages)
    task_failed = [line for line in lines if line[2].startswith("Finished in state Failed")]
    assert task_failed[0][0] == "ERROR"
    assert task_failed[0][2] == "Finished in state Failed('Task run encountered an exception.')"
    assert re.fullmatch(r"Task run 'always_fails_task-[0-9a-f]{8}-0'", task_failed[0][1])
    assert lines[-1][0] == "ERROR"
    assert lines[-1][2] == "Finished in state Failed('1/2 states failed.')"


def test_returning_a_future_takes_its_state(capsys: pytest.CaptureFixture[str]) -> None:
    @flow
    def always_succeeds_flow() -> object:
        x = always_fails_task.submit().result(raise_on_failure=False)
        y = always_succeeds_task.submit(wait_for=[x])
        return y

    state = always_succeeds_flow(return_state=True)
    assert str(state) == "Completed('All states completed.')"
    assert state.result() == "success"
    assert always_succeeds_flow() == "success"


def test_returning_several_states_fails_if_one_failed() -> None:
    @task
    def bad_task() -> None:
        raise ValueError("I am bad task")

    @task
    def good_task() -> str:
        return "foo"

    @flow
    def good_flow() -> str:
        return "bar"

    @flow
    def always_fails_flow() -> tuple[object, object, object]:
        x = bad_task(return_state=True)
        y = good_task(return_state=True)
        z = good_flow(return_state=True)
        return x, y, z

    state = always_fails_flow(return_state=True)
    assert str(state) == "Failed('1/3 states failed.')"
    text = repr(state)
    assert text.startswith("Failed(message='1/3 states failed.', type=FAILED, result=(Failed(")
    assert "result=ValueError('I am bad task'), task_run_id=" in text
    assert "Completed(message=None, type=COMPLETED, result='foo', task_run_id=" in text
    assert "result='bar'" in text
    assert re.search(r"\), flow_run_id=[0-9a-f-]{36}\)$", text)


def test_returning_a_manual_state_uses_it(capsys: pytest.CaptureFixture[str]) -> None:
    @flow
    def always_succeeds_flow() -> State[object]:
        always_fails_task.submit()
        y = always_succeeds_task.submit()
        if y.result() == "success":
            return Completed(message="I am happy with this result")
        return Failed(message="How did this happen!?")

    state = always_succeeds_flow(return_state=True)
    assert str(state) == "Completed('I am happy with this result')"
    lines = log_lines(capsys.readouterr().err)
    assert lines[-1][2] == "Finished in state Completed('I am happy with this result')"


def test_returning_an_object_completes(capsys: pytest.CaptureFixture[str]) -> None:
    @flow
    def always_succeeds_flow() -> str:
        always_fails_task.submit()
        return "foo"

    state = always_succeeds_flow(return_state=True)
    assert str(state) == "Completed()"
    assert re.fullmatch(
        r"Completed\(message=None, type=COMPLETED, result='foo', flow_run_id=[0-9a-f-]{36}\)",
        repr(state),
    )
    assert log_lines(capsys.readouterr().err)[-1][2] == "Finished in state Completed()"


def test_a_cancelled_task_run_cancels_the_flow() -> None:
    from kflow.states import Cancelled

    @task
    def gives_up() -> State[object]:
        return Cancelled("not today")

    @flow
    def flow_with_cancelled_task() -> None:
        gives_up(return_state=True)
        always_succeeds_task()

    state = flow_with_cancelled_task(return_state=True)
    assert str(state) == "Cancelled('1/2 states cancelled.')"
