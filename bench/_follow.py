"""The benchmarks' observers (FlowRuns with their timestamps, per-state counts, pods) each follow
one list call with the operator's own ListWatch, on a thread of their own, and only say what a
change means to them.

ListWatch resumes a dropped watch from where it was, asks again for a watch the API server's
cache is behind (504 "Too large resource version": etcd moves that cache only when an object of
the kind is written, so relisting could not help) and lists again only when the position is
gone. A minute of failed lists or watch requests is an error the observer's waits raise, so a
benchmark never reports figures from a watch that went deaf.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Self

from kflow_operator.kubeapi.list_watch import Change, Lister, ListWatch

FAILING_LIMIT_SECONDS = 60.0


class Follower:
    """Follows `lister` (a list call bound to its namespace, as ListWatch takes it) until
    stopped; subclasses implement `on_event`."""

    def __init__(self, name: str, lister: Lister, label_selector: str = "") -> None:
        self._name = name
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._list_watch = ListWatch(name, lister, label_selector, self._receive, self._closed)
        self._thread = threading.Thread(target=self._list_watch.run, name=name, daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._list_watch.stop()
        self._thread.join(timeout=10)

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        """Block until `done()` holds (re-checked on every event, under the observer's lock);
        False on timeout; raises once the watch has failed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                self._raise_if_failed()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 1.0))
        return True

    def on_event(self, kind: str, obj: dict[str, Any], received: float) -> None:
        """Called with the change's type, the object and its arrival time (time.time())."""
        raise NotImplementedError

    def _receive(self, change: Change) -> None:
        received = time.time()
        try:
            self.on_event(change.type, change.object, received)
        except Exception as error:
            # A bug of the observer: stop, and let the waits say so.
            with self._changed:
                self.error = error
                self._changed.notify_all()
            self._closed.set()
            raise

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"the watch {self._name} failed: {self.error}") from self.error
        failing = self._list_watch.failing
        if failing is not None and time.monotonic() - failing.since > FAILING_LIMIT_SECONDS:
            raise RuntimeError(
                f"the watch {self._name} failed for {FAILING_LIMIT_SECONDS:.0f} s: {failing.error}"
            ) from failing.error
