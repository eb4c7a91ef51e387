"""Turning a final state back into a value or the exception it stands for."""

from __future__ import annotations

from typing import Any

from kflow.engine.resolution import rebuild
from kflow.exceptions import CancelledRun, CrashedRun, FailedRun, PausedRun
from kflow.states import State, StateType

_COLLECTIONS = (list, tuple, set, frozenset)


def state_result(state: State[Any], raise_on_failure: bool) -> Any:
    """The value of a completed state, with the states it holds unwrapped to their values.

    With `raise_on_failure=False` the data comes back as it stands instead: for a flow that
    returned futures or states, that structure holding their final states (Prefect does the
    same), so each can be inspected — not just the first exception.
    """
    if not raise_on_failure:
        return state.data
    if state.type is not StateType.COMPLETED:
        raise exception_of(state)
    data = state.data
    if isinstance(data, State):
        return state_result(data, raise_on_failure)
    if isinstance(data, _COLLECTIONS) and data and all(isinstance(i, State) for i in data):
        return rebuild(data, (state_result(item, raise_on_failure) for item in data))
    return data


def exception_of(state: State[Any]) -> BaseException:
    """The exception to raise for a state that did not complete."""
    data = state.data
    if isinstance(data, BaseException):
        return data
    nested: list[State[Any]] = []
    if isinstance(data, State):
        nested = [data]
    elif isinstance(data, _COLLECTIONS):
        nested = [item for item in data if isinstance(item, State)]
    for inner in nested:
        if inner.type is not StateType.COMPLETED:
            return exception_of(inner)
    message = state.message or f"Run ended in state {state}."
    if state.type is StateType.CRASHED:
        return CrashedRun(message)
    if state.type is StateType.CANCELLED or state.type is StateType.CANCELLING:
        return CancelledRun(message)
    if state.type is StateType.PAUSED:
        return PausedRun(message)
    return FailedRun(message)
