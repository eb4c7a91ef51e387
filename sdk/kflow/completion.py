"""The final state of a submitted task run, handed from the worker thread to whoever waits.

`concurrent.futures.Future` does this with a Condition over an RLock, a state machine for
cancellation and callbacks, created for every submitted task run — and the thread pool made a
second one per run. A task run's completion needs less: one value set once, waiters that block
until then (a plain lock, held from creation until the value is set), and callbacks for
`await`. With thousands of `.submit()` calls per flow that difference is a large part of each
call's cost.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_PENDING: Any = object()


class Completion(Generic[T]):
    """Set once with `set`; `wait` blocks until then. Thread-safe without a lock of its own:
    waiters pass the released lock on to each other, and callbacks are taken one by one with
    `list.pop`, so each runs exactly once whichever thread sees the value first."""

    __slots__ = ("_callbacks", "_lock", "_value")

    def __init__(self) -> None:
        self._value: T = _PENDING
        self._lock = _thread.allocate_lock()
        self._lock.acquire()
        self._callbacks: list[Callable[[], None]] | None = None

    def done(self) -> bool:
        return self._value is not _PENDING

    def set(self, value: T) -> None:
        self._value = value
        self._lock.release()
        if self._callbacks is not None:
            _run_all(self._callbacks)

    def wait(self, timeout: float | None = None) -> T:
        """The value; raises TimeoutError when it is not set within `timeout` seconds."""
        if self._value is _PENDING:
            if not self._lock.acquire(True, -1 if timeout is None else max(timeout, 0.0)):
                raise TimeoutError
            self._lock.release()
        return self._value

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call `callback` (in the setting thread, or here if already set) once set."""
        if self._callbacks is None:
            self._callbacks = []
        callbacks = self._callbacks
        callbacks.append(callback)
        if self._value is not _PENDING:
            _run_all(callbacks)


def _run_all(callbacks: list[Callable[[], None]]) -> None:
    while True:
        try:
            callback = callbacks.pop()
        except IndexError:
            return
        callback()
