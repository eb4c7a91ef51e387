"""Where submitted task runs execute.

`ThreadPoolTaskRunner` (the default; also importable as `ConcurrentTaskRunner`, the name
Prefect's `Using task runner '...'` log line shows) runs them in threads;
`SequentialTaskRunner` runs each at once, in the caller's thread. Each flow run uses its own
copy (`duplicate()`), so a subflow gets a new task runner that is shut down when it ends; its
threads are only started by `.submit()`, so flows that never submit pay nothing for them.
"""

from __future__ import annotations

import _thread
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kflow.unsupported import module_getattr

if TYPE_CHECKING:
    from _thread import LockType
    from concurrent.futures import Future

logger = logging.getLogger(__name__)

#: How long calls may wait with no call taken or finished before the watchdog gives each a
#: thread (see ThreadPoolTaskRunner).
WATCH_INTERVAL_SECONDS = 0.002


class TaskRunner:
    """Runs the callables the engine submits; returns a concurrent.futures.Future or None."""

    #: The name shown in `Using task runner '...'`.
    name = "TaskRunner"
    #: False when `submit` runs the call to completion before returning.
    concurrent = True

    def duplicate(self) -> TaskRunner:
        return type(self)()

    def submit(self, call: Callable[[], Any]) -> Future[Any] | None:
        """Start `call`; return a Future, or None when `call` already ran to completion."""
        raise NotImplementedError

    def shutdown(self, wait: bool = True) -> None:
        """Release workers; called when the flow run that owns this runner ends.

        `wait=False` after a timeout or cancellation: task runs that ignored the interruption
        (stuck in a blocking C call) finish on their own instead of holding the flow run.
        """


class SequentialTaskRunner(TaskRunner):
    """Runs every submitted task run immediately, in the submitting thread."""

    name = "SequentialTaskRunner"
    concurrent = False

    def submit(self, call: Callable[[], Any]) -> Future[Any] | None:
        call()
        return None


class ThreadPoolTaskRunner(TaskRunner):
    """Runs submitted task runs concurrently in threads started on first use.

    `max_workers` defaults to a large bound: a task that waits on another task's future holds
    its thread, so a small pool could deadlock on deep dependency chains. Calls are taken in
    the order submitted, and calls that block run side by side, each in a thread of its own.

    What differs from ThreadPoolExecutor (and this pool before) is when a thread is started.
    There, every queued call counted as needing a thread of its own; but under the GIL a
    thread woken for the queue waits for the submitting thread's switch interval, and 1,000
    no-op submits started ~44 threads and switched threads about once per task run: a third
    of a submitted task run's CPU time. Here a thread woken (or started) for the queue takes
    every call queued meanwhile, one after the other, and a submit wakes or starts a thread
    only when none is on its way to the queue.

    A thread whose call blocks leaves the calls queued behind it to others: the next submit
    starts one, and a watchdog thread looks while calls wait: when no call was taken or
    finished for WATCH_INTERVAL_SECONDS and no thread is on its way, waiting calls get
    threads (doubling their number at each such look) until each has one, as
    ThreadPoolExecutor would have given it.
    """

    name = "ConcurrentTaskRunner"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers if max_workers is not None else 1024
        self._lock = threading.Lock()
        self._calls: deque[Callable[[], Any]] = deque()
        self._threads: list[threading.Thread] = []
        #: One per idle thread, which waits on it (held) until it is released.
        self._wakes: list[LockType] = []
        self._idle = 0
        #: Threads woken or started for the queue that have not taken a call yet.
        self._coming = 0
        #: Calls taken or finished: what the watchdog looks at to tell waiting from stuck.
        self._moves = 0
        self._closing = False
        self._watchdog: threading.Thread | None = None
        #: Released when calls wait behind busy threads (`_watching` becomes True).
        self._watch = _thread.allocate_lock()
        self._watch.acquire()
        self._watching = False
        #: Held until shutdown: the watchdog's pause between looks, cut short by shutdown.
        self._pause = _thread.allocate_lock()
        self._pause.acquire()
        #: Threads made under the lock and not started yet (see `_start`).
        self._unstarted = 0
        self._all_started = threading.Condition(self._lock)

    def duplicate(self) -> TaskRunner:
        return type(self)(self.max_workers)

    def submit(self, call: Callable[[], Any]) -> Future[Any] | None:
        with self._lock:
            self._calls.append(call)
            thread = None if self._coming else self._add_taker()
        if thread is not None:
            self._start(thread)
        return None

    def _add_taker(self) -> threading.Thread | None:
        """Wake an idle thread for the queue, or make a new one for the caller to `_start`
        once it has let go of the lock (a start hands the GIL to the new thread, which then
        waits for this lock). Returns that thread; call with the lock held."""
        if self._wakes:
            self._idle -= 1
            self._coming += 1
            self._wakes.pop().release()
            return None
        if len(self._threads) >= self.max_workers:
            return None
        thread = threading.Thread(
            target=self._work, name=f"kflow-task_{len(self._threads)}", daemon=False
        )
        self._threads.append(thread)
        self._coming += 1
        self._unstarted += 1
        return thread

    def _start(self, thread: threading.Thread) -> None:
        """Start a thread made under the lock; `shutdown` waits for this before joining."""
        try:
            thread.start()
        finally:
            with self._lock:
                self._unstarted -= 1
                if not self._unstarted:
                    self._all_started.notify_all()

    def _work(self) -> None:
        wake = _thread.allocate_lock()
        wake.acquire()
        lock = self._lock
        calls = self._calls
        coming = True  # started for the queue
        while True:
            watchdog = None
            with lock:
                if coming:
                    self._coming -= 1
                    coming = False
                else:
                    self._moves += 1  # a call finished
                if calls:
                    call = calls.popleft()
                    self._moves += 1
                    if calls and not self._watching:
                        watchdog = self._arm_watchdog()
                elif self._closing:
                    return
                else:
                    self._idle += 1
                    self._wakes.append(wake)
                    call = None
            if watchdog is not None:
                self._start(watchdog)
            if call is None:
                wake.acquire()
                coming = True
                continue
            try:
                call()
            except BaseException:
                logger.exception("a task runner call failed")
            del call

    def _arm_watchdog(self) -> threading.Thread | None:
        """Have the watchdog look at the queue; returns it when the caller must `_start` it
        (on first use). Call with the lock held."""
        self._watching = True
        self._watch.release()
        if self._watchdog is not None or self._closing:
            return None
        self._watchdog = threading.Thread(
            target=self._watch_queue, name="kflow-task-watchdog", daemon=True
        )
        self._unstarted += 1
        return self._watchdog

    def _watch_queue(self) -> None:
        while True:
            self._watch.acquire()
            with self._lock:
                seen = self._moves
            while True:
                self._pause.acquire(True, WATCH_INTERVAL_SECONDS)
                starting: list[threading.Thread] = []
                with self._lock:
                    if self._closing:
                        return
                    if not self._calls:
                        self._watching = False
                        break
                    if self._moves == seen and not self._coming:
                        # Every thread seems to be inside a call that does not return: one
                        # per waiting call, but at most as many as there are threads. The
                        # threads may only have waited for the GIL (a flow busy in Python):
                        # doubling bounds what such a look adds, and still reaches a thread
                        # per call in a few looks.
                        for _ in range(min(len(self._calls), max(len(self._threads), 1))):
                            if not self._wakes and len(self._threads) >= self.max_workers:
                                break
                            thread = self._add_taker()
                            if thread is not None:
                                starting.append(thread)
                    seen = self._moves
                for thread in starting:
                    self._start(thread)

    def shutdown(self, wait: bool = True) -> None:
        """Every thread ends once the calls queued before this ran (as ThreadPoolExecutor's
        shutdown, without cancelling them)."""
        with self._lock:
            self._closing = True
            threads, self._threads = self._threads, []
            while self._wakes:
                self._idle -= 1
                self._coming += 1
                self._wakes.pop().release()
            if not self._watching:
                self._watching = True
                self._watch.release()
            if self._pause.locked():
                self._pause.release()
            watchdog, self._watchdog = self._watchdog, None
            while wait and self._unstarted:
                self._all_started.wait()
        if wait:
            for thread in [*threads, *([watchdog] if watchdog is not None else [])]:
                if thread.ident is not None:  # None: its start failed
                    thread.join()


ConcurrentTaskRunner = ThreadPoolTaskRunner

if not TYPE_CHECKING:  # Prefect names kflow lacks: a clear error, not "no attribute"
    __getattr__ = module_getattr(__name__)

__all__ = ["ConcurrentTaskRunner", "SequentialTaskRunner", "TaskRunner", "ThreadPoolTaskRunner"]
