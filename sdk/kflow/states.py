"""Run states, shared by the local engine, the cluster backend and the operator.

A state is a plain slotted object, not a pydantic model: the engine creates several per task
run, and the per-task overhead budget is tens of microseconds.

`str(state)` is the short form the console logs show (`Completed()`, `Failed('1/2 states
failed.')`); `repr(state)` is the long form Prefect prints for a returned state
(`Completed(message=None, type=COMPLETED, result='foo', flow_run_id=...)`).
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from kflow.exceptions import CancelledRun, CrashedRun, FailedRun, PausedRun
from kflow.run_collections import rebuild

if TYPE_CHECKING:
    from datetime import datetime

T = TypeVar("T")


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"


TERMINAL_STATE_TYPES = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
)


class StateDetails:
    """Links and pause data carried by a state (Prefect's `state_details`)."""

    __slots__ = (
        "child_flow_run_id",
        "flow_run_id",
        "parent_task_run_id",
        "pause_reschedule",
        "pause_timeout",
        "task_run_id",
    )

    def __init__(
        self,
        flow_run_id: str | None = None,
        task_run_id: str | None = None,
        child_flow_run_id: str | None = None,
        parent_task_run_id: str | None = None,
        pause_timeout: float | None = None,
        pause_reschedule: bool = False,
    ) -> None:
        self.flow_run_id = flow_run_id
        self.task_run_id = task_run_id
        self.child_flow_run_id = child_flow_run_id
        self.parent_task_run_id = parent_task_run_id
        self.pause_timeout = pause_timeout
        self.pause_reschedule = pause_reschedule

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if v)
        return f"StateDetails({shown})"


class State(Generic[T]):
    """One state of a flow run or task run.

    `data` holds the result for COMPLETED states and the exception for FAILED/CRASHED ones;
    for a flow that returned futures or states it holds those states (Prefect's repr shows
    them nested in `result=(...)`).
    """

    __slots__ = ("data", "message", "name", "state_details", "timestamp", "type")

    def __init__(
        self,
        type: StateType,
        name: str | None = None,
        message: str | None = None,
        data: Any = None,
        state_details: StateDetails | None = None,
        timestamp: float | None = None,
    ) -> None:
        self.type = type
        self.name = name if name is not None else _DEFAULT_NAMES[type]
        self.message = message
        self.data = data
        self.state_details = state_details if state_details is not None else StateDetails()
        self.timestamp = timestamp if timestamp is not None else time.time()

    @property
    def when(self) -> datetime:
        """The timestamp as an aware UTC datetime (computed on demand: datetime is not free)."""
        from datetime import UTC, datetime

        return datetime.fromtimestamp(self.timestamp, UTC)

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_paused(self) -> bool:
        return self.type is StateType.PAUSED

    def is_cancelling(self) -> bool:
        return self.type is StateType.CANCELLING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_final(self) -> bool:
        return self.type in TERMINAL_STATE_TYPES

    def result(self, raise_on_failure: bool = True) -> T:
        """The value this state stands for; raises the run's exception when it did not complete.

        States nested in `data` (a flow that returned futures or states) are unwrapped to their
        own results, so a flow returning `(x, y)` futures gives back their two values. With
        `raise_on_failure=False`, `data` comes back as it stands: the exception of a failed run,
        or the returned structure holding each returned run's final state.
        """
        result: T = _state_result(self, raise_on_failure)
        return result

    def copy(self, **changes: Any) -> State[T]:
        fields: dict[str, Any] = {
            "type": self.type,
            "name": self.name,
            "message": self.message,
            "data": self.data,
            "state_details": self.state_details,
            "timestamp": self.timestamp,
        }
        fields.update(changes)
        return State(**fields)

    def __str__(self) -> str:
        shown = []
        if self.message:
            shown.append(repr(self.message))
        # A StrEnum member is its value: `.value` is a slow descriptor on this hot path.
        if self.type.lower() != self.name.lower():
            shown.append(f"type={self.type}")
        return f"{self.name}({', '.join(shown)})"

    def __repr__(self) -> str:
        parts = [
            f"message={self.message!r}",
            f"type={self.type.value}",
            f"result={self.data!r}",
        ]
        details = self.state_details
        if details.task_run_id:
            parts.append(f"task_run_id={details.task_run_id}")
        elif details.flow_run_id:
            parts.append(f"flow_run_id={details.flow_run_id}")
        return f"{self.name}({', '.join(parts)})"


_COLLECTIONS = (list, tuple, set, frozenset)


def _state_result(state: State[Any], raise_on_failure: bool) -> Any:
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
        return _state_result(data, raise_on_failure)
    if isinstance(data, _COLLECTIONS) and data and all(isinstance(i, State) for i in data):
        return rebuild(data, (_state_result(item, raise_on_failure) for item in data))
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


_DEFAULT_NAMES = {
    StateType.SCHEDULED: "Scheduled",
    StateType.PENDING: "Pending",
    StateType.RUNNING: "Running",
    StateType.PAUSED: "Paused",
    StateType.CANCELLING: "Cancelling",
    StateType.CANCELLED: "Cancelled",
    StateType.COMPLETED: "Completed",
    StateType.FAILED: "Failed",
    StateType.CRASHED: "Crashed",
}


def Scheduled(message: str | None = None, *, name: str = "Scheduled", **kw: Any) -> State[Any]:
    return State(StateType.SCHEDULED, name=name, message=message, **kw)


def Pending(message: str | None = None, *, name: str = "Pending", **kw: Any) -> State[Any]:
    return State(StateType.PENDING, name=name, message=message, **kw)


def Running(message: str | None = None, *, name: str = "Running", **kw: Any) -> State[Any]:
    return State(StateType.RUNNING, name=name, message=message, **kw)


def Paused(message: str | None = None, *, name: str = "Paused", **kw: Any) -> State[Any]:
    return State(StateType.PAUSED, name=name, message=message, **kw)


def Cancelling(message: str | None = None, *, name: str = "Cancelling", **kw: Any) -> State[Any]:
    return State(StateType.CANCELLING, name=name, message=message, **kw)


def Cancelled(message: str | None = None, *, name: str = "Cancelled", **kw: Any) -> State[Any]:
    return State(StateType.CANCELLED, name=name, message=message, **kw)


def Completed(message: str | None = None, *, name: str = "Completed", **kw: Any) -> State[Any]:
    return State(StateType.COMPLETED, name=name, message=message, **kw)


def Failed(message: str | None = None, *, name: str = "Failed", **kw: Any) -> State[Any]:
    return State(StateType.FAILED, name=name, message=message, **kw)


def Crashed(message: str | None = None, *, name: str = "Crashed", **kw: Any) -> State[Any]:
    return State(StateType.CRASHED, name=name, message=message, **kw)


def AwaitingRetry(message: str | None = None, **kw: Any) -> State[Any]:
    return State(StateType.SCHEDULED, name="AwaitingRetry", message=message, **kw)


def Retrying(message: str | None = None, **kw: Any) -> State[Any]:
    return State(StateType.RUNNING, name="Retrying", message=message, **kw)


def TimedOut(message: str | None = None, **kw: Any) -> State[Any]:
    return State(StateType.FAILED, name="TimedOut", message=message, **kw)


def Late(message: str | None = None, **kw: Any) -> State[Any]:
    """A scheduled run that did not start in time (the operator writes it)."""
    return State(StateType.SCHEDULED, name="Late", message=message, **kw)


def Suspended(message: str | None = None, **kw: Any) -> State[Any]:
    """Paused with `reschedule=True`: no process runs it until it is resumed."""
    return State(StateType.PAUSED, name="Suspended", message=message, **kw)


def Cached(data: Any = None, **kw: Any) -> State[Any]:
    """A task run whose persisted result was read back instead of running it again."""
    return State(StateType.COMPLETED, name="Cached", data=data, **kw)


__all__ = [
    "TERMINAL_STATE_TYPES",
    "AwaitingRetry",
    "Cached",
    "Cancelled",
    "Cancelling",
    "Completed",
    "Crashed",
    "Failed",
    "Late",
    "Paused",
    "Pending",
    "Retrying",
    "Running",
    "Scheduled",
    "State",
    "StateDetails",
    "StateType",
    "Suspended",
    "TimedOut",
    "exception_of",
]
