"""Futures of submitted task runs, and the wrappers that change how they are passed on."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from kflow.exceptions import UpstreamTaskError
from kflow.run_collections import TaskRunFutureList
from kflow.states import Pending, State
from kflow.unsupported import module_getattr

if TYPE_CHECKING:
    from kflow.backend import TaskRun
    from kflow.completion import Completion

T = TypeVar("T")


class TaskRunFuture(Generic[T]):
    """The eventual final state of a submitted task run.

    `result()` waits and returns the value (raising the task's exception unless
    `raise_on_failure=False`); `wait()` waits and returns the final state; `state` is the state
    now, without waiting.
    """

    __slots__ = ("_final", "_inner", "task_run")

    def __init__(
        self,
        task_run: TaskRun,
        inner: Completion[State[T]] | None = None,
        final: State[T] | None = None,
    ) -> None:
        self.task_run = task_run
        self._inner = inner
        self._final = final

    @property
    def task_run_id(self) -> str:
        return self.task_run.id

    @property
    def state(self) -> State[T]:
        if self._final is not None:
            return self._final
        inner = self._inner
        if inner is not None and inner.done():
            return self.wait()
        current = self.task_run.state
        if current is None:
            return Pending()
        return current

    def done(self) -> bool:
        return self._final is not None or (self._inner is not None and self._inner.done())

    def wait(self, timeout: float | None = None) -> State[T]:
        """Block until the task run is final (or `timeout` seconds pass) and return its state."""
        if self._final is not None:
            return self._final
        assert self._inner is not None
        try:
            final = self._inner.wait(timeout)
        except TimeoutError:
            return self.state
        self._final = final
        return final

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> T:
        state = self.wait(timeout)
        if not state.is_final():
            raise TimeoutError(
                f"Task run {self.task_run.name!r} did not finish within {timeout} second(s)."
            )
        return state.result(raise_on_failure=raise_on_failure)

    def __await__(self) -> Generator[Any, None, T]:
        inner = self._inner
        if self._final is None and inner is not None and not inner.done():
            import asyncio

            loop = asyncio.get_running_loop()
            awaited: asyncio.Future[None] = loop.create_future()

            def wake() -> None:
                loop.call_soon_threadsafe(_resolve, awaited)

            inner.add_done_callback(wake)
            yield from awaited.__await__()
        return self.result()

    def __repr__(self) -> str:
        return f"TaskRunFuture({self.task_run.name!r}, state={self.state})"


def _resolve(awaited: Any) -> None:
    if not awaited.done():
        awaited.set_result(None)


PrefectFuture = TaskRunFuture


class allow_failure(Generic[T]):
    """Wrap an upstream future so a task runs (and gets the value/exception) even if it failed."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


class unmapped(Generic[T]):
    """Wrap an argument of `Task.map()` so it is passed whole to every mapped call."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


class UpstreamFailed(UpstreamTaskError):
    """A run's input came from a run that did not complete: the run does not start."""

    def __init__(self, name: str, kind: str = "task run") -> None:
        super().__init__(f"Upstream {kind} {name!r} did not reach a 'COMPLETED' state.")


if not TYPE_CHECKING:  # Prefect names kflow lacks: a clear error, not "no attribute"
    __getattr__ = module_getattr(__name__)

__all__ = [
    "PrefectFuture",
    "TaskRunFuture",
    "TaskRunFutureList",
    "UpstreamFailed",
    "allow_failure",
    "unmapped",
]
