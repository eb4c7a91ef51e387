"""Deadlines on a running body (`timeout_seconds` of flows and tasks).

* In the main thread, a timeout arms SIGALRM (setitimer); the handler raises at once, which
  also interrupts blocking calls such as `time.sleep` or a lock wait.
* In any other thread, a timer raises the exception into the body's thread
  (`kflow.engine.interrupts.raise_in_thread`), at its next bytecode boundary.
* Async bodies run under `asyncio.timeout` instead.
* A signal whose handler calls `cancel_flow_run` and that arrives in the instant before the
  main thread enters a blocking call runs its handler only when that call returns (CPython
  runs Python-level handlers between bytecodes). Timeouts re-arm SIGALRM every 50 ms after
  the deadline to get past this; a one-off SIGTERM cannot, so the operator's grace period and
  SIGKILL remain the backstop.

Each scope records whether it fired, so nested scopes (a flow timeout around a task timeout)
can tell whose deadline passed.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from kflow.engine.interrupts import DeadlineExceeded, clear_pending_in_thread, raise_in_thread


class TimeoutScope:
    __slots__ = ("deadline", "fired", "lock", "seconds", "thread_id", "timer")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.fired = False
        self.thread_id = threading.get_ident()
        self.timer: threading.Timer | None = None
        self.lock = threading.Lock()


# Main-thread scopes share SIGALRM: a stack, the timer armed for the earliest deadline. An
# alarm someone else had set (pytest-timeout, the application) is kept: its handler still
# runs at its time, and its timer is re-armed when the last scope ends.
_alarm_scopes: list[TimeoutScope] = []
_previous_handler: Any = None
_previous_deadline: float | None = None


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    global _previous_deadline
    now = time.monotonic()
    if _previous_deadline is not None and _previous_deadline <= now:
        _previous_deadline = None
        if callable(_previous_handler):
            _previous_handler(signum, frame)
    expired = [scope for scope in _alarm_scopes if scope.deadline <= now and not scope.fired]
    if not expired:
        return  # early, or a repeat for a scope whose exception is already on its way
    for scope in expired:
        scope.fired = True
    raise DeadlineExceeded()


def _arm_alarm() -> None:
    if not _alarm_scopes:
        left = None if _previous_deadline is None else _previous_deadline - time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 0 if left is None else max(left, 0.0001))
        return
    deadlines = [scope.deadline for scope in _alarm_scopes]
    if _previous_deadline is not None:
        deadlines.append(_previous_deadline)
    left = min(deadlines) - time.monotonic()
    # Repeats every 50 ms after the deadline: a SIGALRM that lands just before the body enters
    # a blocking call only runs its handler after that call; the next one interrupts it.
    signal.setitimer(signal.ITIMER_REAL, max(left, 0.0001), 0.05)


def _fire_in_thread(scope: TimeoutScope) -> None:
    with scope.lock:
        if scope.timer is None:  # the scope already ended
            return
        scope.fired = True
        raise_in_thread(scope.thread_id, DeadlineExceeded)


@contextmanager
def timeout_scope(seconds: float | None) -> Iterator[TimeoutScope | None]:
    """Run the block with a deadline; raises DeadlineExceeded (with `scope.fired`) when it passes.

    The caller turns a DeadlineExceeded whose scope fired into its own TimedOut state; one whose
    scope did not fire belongs to an outer scope and must propagate.
    """
    if seconds is None:
        yield None
        return
    global _previous_handler, _previous_deadline
    scope = TimeoutScope(seconds)
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        if not _alarm_scopes:
            pending, _ = signal.getitimer(signal.ITIMER_REAL)
            _previous_deadline = time.monotonic() + pending if pending > 0 else None
            _previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
        _alarm_scopes.append(scope)
        _arm_alarm()
        try:
            yield scope
        finally:
            _alarm_scopes.remove(scope)
            _arm_alarm()
            if not _alarm_scopes:
                signal.signal(signal.SIGALRM, _previous_handler)
        return
    scope.timer = threading.Timer(seconds, _fire_in_thread, (scope,))
    scope.timer.daemon = True
    scope.timer.start()
    try:
        yield scope
    finally:
        with scope.lock:
            timer, scope.timer = scope.timer, None
            timer.cancel()
            if scope.fired:
                # Fired just as the block ended: drop the exception if it is still pending.
                clear_pending_in_thread(scope.thread_id)
