"""States: the spec's short and long reprs, result(), and the final-state aggregation rules."""

from __future__ import annotations

import pytest
from kflow.engine.final_state import aggregate, final_state
from kflow.exceptions import CancelledRun, FailedRun
from kflow.states import (
    TERMINAL_STATE_TYPES,
    Cancelled,
    Completed,
    Crashed,
    Failed,
    Paused,
    Pending,
    Running,
    State,
    StateDetails,
    StateType,
    TimedOut,
)


def test_short_form_is_what_the_console_logs_show() -> None:
    assert str(Completed()) == "Completed()"
    assert str(Completed("All states completed.")) == "Completed('All states completed.')"
    assert str(Failed("Task run encountered an exception.")) == (
        "Failed('Task run encountered an exception.')"
    )
    assert str(TimedOut("too slow")) == "TimedOut('too slow', type=FAILED)"


def test_long_form_is_what_printing_a_returned_state_shows() -> None:
    state = Completed(data="foo", state_details=StateDetails(flow_run_id="7240e6f5"))
    assert repr(state) == (
        "Completed(message=None, type=COMPLETED, result='foo', flow_run_id=7240e6f5)"
    )
    failed = Failed(
        "Task run encountered an exception.",
        data=ValueError("I am bad task"),
        state_details=StateDetails(flow_run_id="f", task_run_id="5fd4c697"),
    )
    assert repr(failed) == (
        "Failed(message='Task run encountered an exception.', type=FAILED, "
        "result=ValueError('I am bad task'), task_run_id=5fd4c697)"
    )


def test_result_returns_the_value_or_raises_the_exception() -> None:
    assert Completed(data=3).result() == 3
    error = ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        Failed(data=error).result()
    assert Failed(data=error).result(raise_on_failure=False) is error
    with pytest.raises(FailedRun, match="How did this happen"):
        Failed("How did this happen!?").result()
    with pytest.raises(CancelledRun):
        Cancelled("stop").result()


def test_result_unwraps_nested_states() -> None:
    nested = Completed(data=(Completed(data=1), Completed(data="two")))
    assert nested.result() == (1, "two")
    failing = Failed("1/2 states failed.", data=(Completed(data=1), Failed(data=KeyError("k"))))
    with pytest.raises(KeyError):
        failing.result()


def test_terminal_types_and_predicates() -> None:
    assert {s.type for s in (Completed(), Failed(), Cancelled(), Crashed())} == set(
        TERMINAL_STATE_TYPES
    )
    assert not Running().is_final() and not Pending().is_final() and not Paused().is_final()
    assert TimedOut().is_failed() and TimedOut().name == "TimedOut"
    assert State(StateType.SCHEDULED, name="AwaitingRetry").is_scheduled()


@pytest.mark.parametrize(
    ("states", "expected_type", "message"),
    [
        ([Completed(), Completed()], StateType.COMPLETED, "All states completed."),
        ([Failed(), Completed()], StateType.FAILED, "1/2 states failed."),
        ([Failed(), Completed(), Completed()], StateType.FAILED, "1/3 states failed."),
        ([Crashed(), Failed()], StateType.FAILED, "2/2 states failed."),
        ([Cancelled(), Failed()], StateType.CANCELLED, "1/2 states cancelled."),
        ([Paused(), Completed()], StateType.PAUSED, "1/2 states paused."),
        ([Running(), Completed()], StateType.FAILED, "1/2 states are not final."),
    ],
)
def test_aggregate_messages(
    states: list[State[object]], expected_type: StateType, message: str
) -> None:
    state = aggregate(states)
    assert state.type is expected_type
    assert state.message == message


def test_final_state_rules() -> None:
    task_state = Completed(data="foo", state_details=StateDetails("f", "t"))
    # Returns None: from the child states (no children: plain Completed()).
    assert str(final_state(None, [])) == "Completed()"
    assert str(final_state(None, [task_state])) == "Completed('All states completed.')"
    failed_child = Failed(data=ValueError("x"), state_details=StateDetails("f", "t2"))
    none_failed = final_state(None, [failed_child, task_state])
    assert str(none_failed) == "Failed('1/2 states failed.')"
    with pytest.raises(ValueError):
        none_failed.result()
    # Returns a state the user made: that state, as it stands.
    manual = Completed(message="I am happy with this result")
    assert final_state(manual, [failed_child]) is manual
    # Returns a run's state, or a tuple of them: resolved and aggregated.
    assert str(final_state(failed_child, [])) == "Failed('1/1 states failed.')"
    combined = final_state((failed_child, task_state), [])
    assert str(combined) == "Failed('1/2 states failed.')"
    assert combined.data == (failed_child, task_state)
    # Returns anything else: Completed with that value.
    value_state = final_state("foo", [failed_child])
    assert str(value_state) == "Completed()" and value_state.result() == "foo"
    # A tuple that is not all states is just a value.
    assert final_state((task_state, 5), []).result() == (task_state, 5)
