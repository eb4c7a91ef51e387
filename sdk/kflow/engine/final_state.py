"""Prefect's rules for a flow run's final state from its return value.

* raises → FAILED (handled by the flow engine, not here);
* returns None → from all its task runs and subflow runs: `All states completed.`,
  `1/2 states failed.`, `1/3 states cancelled.` …;
* returns futures or states, alone or in a list/tuple/set → those, resolved, decide the same way;
  in other structures (a dict, nested lists) they are not counted, only resolved to states;
* returns a State it made itself → that state;
* returns anything else → COMPLETED with that value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kflow.engine.resolution import futures_to_states
from kflow.states import Completed, State, StateType

_STATE_COLLECTIONS = (list, tuple, set, frozenset)


def final_state(retval: Any, children: Sequence[State[Any]]) -> State[Any]:
    if retval is None:
        if not children:
            return Completed()
        return aggregate(children, keep_data=False)
    # The returned futures become their final states, wherever they sit: the flow's state
    # holds what it returned, and `result(raise_on_failure=False)` gives it back.
    value = futures_to_states(retval)
    if isinstance(value, State):
        details = value.state_details
        if details.task_run_id is None and details.flow_run_id is None:
            return value  # made by the user: it is the final state as it stands
        return aggregate([value], data=value)
    if (
        isinstance(value, _STATE_COLLECTIONS)
        and value
        and all(isinstance(item, State) for item in value)
    ):
        return aggregate(list(value), data=value)
    return Completed(data=value)


def aggregate(states: Sequence[State[Any]], keep_data: bool = True, data: Any = None) -> State[Any]:
    total = len(states)
    counts: dict[StateType, int] = {}
    for state in states:
        counts[state.type] = counts.get(state.type, 0) + 1
    completed = counts.get(StateType.COMPLETED, 0)
    if not keep_data:
        not_completed = tuple(s for s in states if s.type is not StateType.COMPLETED)
        data = not_completed or None
    if completed == total:
        return State(StateType.COMPLETED, message="All states completed.", data=data)
    cancelled = counts.get(StateType.CANCELLED, 0)
    if cancelled:
        return State(
            StateType.CANCELLED, message=f"{cancelled}/{total} states cancelled.", data=data
        )
    paused = counts.get(StateType.PAUSED, 0)
    if paused:
        return State(StateType.PAUSED, message=f"{paused}/{total} states paused.", data=data)
    failed = counts.get(StateType.FAILED, 0) + counts.get(StateType.CRASHED, 0)
    if failed:
        return State(StateType.FAILED, message=f"{failed}/{total} states failed.", data=data)
    return State(
        StateType.FAILED,
        message=f"{total - completed}/{total} states are not final.",
        data=data,
    )
