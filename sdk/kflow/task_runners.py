"""Where submitted task runs execute.

`ThreadPoolTaskRunner` (the default; also importable as `ConcurrentTaskRunner`, the name
Prefect's `Using task runner '...'` log line shows) runs them in threads;
`SequentialTaskRunner` runs each at once, in the caller's thread. Each flow run uses its own
copy (`duplicate()`), so a subflow gets a new task runner that is shut down when it ends; its
threads are only started by `.submit()`, so flows that never submit pay nothing for them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from kflow.unsupported import module_getattr

if TYPE_CHECKING:
    from concurrent.futures import Future

logger = logging.getLogger(__name__)


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
    its thread, so a small pool could deadlock on deep dependency chains. Threads are only
    started when no idle one is available.

    Not a `concurrent.futures.ThreadPoolExecutor`: it made a Future for every call (a
    Condition over an RLock) and took a Condition-based semaphore to find an idle thread, while
    the engine has its own completion for each task run (kflow.completion). Here a call is a
    queue entry, and idle threads are a counter under a plain lock.
    """

    name = "ConcurrentTaskRunner"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers if max_workers is not None else 1024
        self._queue: SimpleQueue[Callable[[], Any] | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        """Threads that finished a call and will take the next one: each queued call has one
        of these counted for it, or a thread started for it."""

    def duplicate(self) -> TaskRunner:
        return type(self)(self.max_workers)

    def submit(self, call: Callable[[], Any]) -> Future[Any] | None:
        self._queue.put(call)
        with self._lock:
            if self._idle:
                self._idle -= 1
                return None
            if len(self._threads) >= self.max_workers:
                return None
            thread = threading.Thread(
                target=self._work, name=f"kflow-task_{len(self._threads)}", daemon=False
            )
            self._threads.append(thread)
        thread.start()
        return None

    def _work(self) -> None:
        queue = self._queue
        while True:
            call = queue.get()
            if call is None:
                return
            try:
                call()
            except BaseException:
                logger.exception("a task runner call failed")
            del call
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True) -> None:
        """Every thread ends once the calls queued before this ran (as ThreadPoolExecutor's
        shutdown, without cancelling them)."""
        with self._lock:
            threads, self._threads = self._threads, []
            self._idle = 0
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()


ConcurrentTaskRunner = ThreadPoolTaskRunner

if not TYPE_CHECKING:  # Prefect names kflow lacks: a clear error, not "no attribute"
    __getattr__ = module_getattr(__name__)

__all__ = ["ConcurrentTaskRunner", "SequentialTaskRunner", "TaskRunner", "ThreadPoolTaskRunner"]
