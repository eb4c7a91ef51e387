"""Where submitted task runs execute.

`ThreadPoolTaskRunner` (the default; also importable as `ConcurrentTaskRunner`, the name
Prefect's `Using task runner '...'` log line shows) runs them in threads;
`SequentialTaskRunner` runs each at once, in the caller's thread. Each flow run uses its own
copy (`duplicate()`), so a subflow gets a new task runner that is shut down when it ends; the
thread pool itself is only created on the first `.submit()`, so flows that never submit pay
nothing for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kflow.unsupported import module_getattr

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor


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
    """Runs submitted task runs concurrently in a thread pool created on first use.

    `max_workers` defaults to a large bound: a task that waits on another task's future holds
    its thread, so a small pool could deadlock on deep dependency chains. Threads are only
    started when no idle one is available.
    """

    name = "ConcurrentTaskRunner"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers if max_workers is not None else 1024
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def duplicate(self) -> TaskRunner:
        return type(self)(self.max_workers)

    def submit(self, call: Callable[[], Any]) -> Future[Any] | None:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._pool = ThreadPoolExecutor(
                        self.max_workers, thread_name_prefix="kflow-task"
                    )
                pool = self._pool
        return pool.submit(call)

    def shutdown(self, wait: bool = True) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait)


ConcurrentTaskRunner = ThreadPoolTaskRunner

if not TYPE_CHECKING:  # Prefect names kflow lacks: a clear error, not "no attribute"
    __getattr__ = module_getattr(__name__)

__all__ = ["ConcurrentTaskRunner", "SequentialTaskRunner", "TaskRunner", "ThreadPoolTaskRunner"]
