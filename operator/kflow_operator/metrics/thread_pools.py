"""Worker pools whose queue and busy workers are visible: the operator's blocking work (API
calls, launchers) runs on thread pools, and a pool that is always full is where runs wait.

`TrackedThreadPool` counts its own submissions instead of reading ThreadPoolExecutor's
private queue; `PoolGauges` reports every live pool at scrape time.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

T = TypeVar("T")

_POOLS: weakref.WeakValueDictionary[str, TrackedThreadPool] = weakref.WeakValueDictionary()


class TrackedThreadPool(ThreadPoolExecutor):
    """A ThreadPoolExecutor that knows how many tasks wait and how many run, named `pool` in
    the metrics (the newest pool of a name is the one reported)."""

    def __init__(self, pool: str, max_workers: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self.pool = pool
        self.max_workers = max_workers
        self._counts_lock = threading.Lock()
        self.queued = 0
        self.busy = 0
        _POOLS[pool] = self

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._counts_lock:
            self.queued += 1
        started = threading.Event()

        def tracked() -> T:
            with self._counts_lock:
                self.queued -= 1
                self.busy += 1
            started.set()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._counts_lock:
                    self.busy -= 1

        def unqueue_if_never_run(future: Future[T]) -> None:
            if not started.is_set():
                with self._counts_lock:
                    self.queued -= 1

        try:
            future = super().submit(tracked)
        except BaseException:
            with self._counts_lock:
                self.queued -= 1
            raise
        future.add_done_callback(unqueue_if_never_run)
        return future


class PoolGauges(Collector):
    """kflow_work_queue_depth, kflow_busy_workers and kflow_workers, by pool."""

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queued = GaugeMetricFamily(
            "kflow_work_queue_depth",
            "Tasks waiting for a worker thread, by pool.",
            labels=("pool",),
        )
        busy = GaugeMetricFamily(
            "kflow_busy_workers", "Worker threads running a task, by pool.", labels=("pool",)
        )
        size = GaugeMetricFamily(
            "kflow_workers", "Worker threads a pool may run at most.", labels=("pool",)
        )
        for name, pool in sorted(_POOLS.items()):
            queued.add_metric((name,), pool.queued)
            busy.add_metric((name,), pool.busy)
            size.add_metric((name,), pool.max_workers)
        yield queued
        yield busy
        yield size
