"""One watch loop for the benchmarks' observers (FlowRuns with their timestamps, per-state
counts, pods): each follows one list call in a thread of its own and only says what an event
means to it.

A dropped connection resumes from the last resourceVersion seen; an expired one (410) or one
from before an API-server restart (504) relists. A minute without a working watch is an error
the observer's waits raise, so a benchmark never reports figures from a watch that went deaf.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Self

import urllib3
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

FAILING_LIMIT_SECONDS = 60.0


def resource_version_of(obj: Any) -> str | None:
    """Watches of custom objects give dicts, of pods typed models."""
    if isinstance(obj, dict):
        found = obj.get("metadata", {}).get("resourceVersion")
    else:
        found = getattr(getattr(obj, "metadata", None), "resource_version", None)
    return found if isinstance(found, str) else None


class Follower:
    """Follows `list_call(*args, **kwargs)` until stopped; subclasses implement `on_event`."""

    def __init__(self, name: str, list_call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._list_call = list_call
        self._args = args
        self._kwargs = kwargs
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._watch: Any = watch.Watch()  # type: ignore[no-untyped-call]
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._watch.stop()
        self._thread.join(timeout=10)

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        """Block until `done()` holds (re-checked on every event, under the observer's lock);
        False on timeout; raises once the watch has failed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                if self.error is not None:
                    raise RuntimeError(f"the watch {self._thread.name} failed: {self.error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 1.0))
        return True

    def on_event(self, kind: str, obj: Any, received: float) -> None:
        """Called with the watch event's type, object and arrival time (time.time())."""
        raise NotImplementedError

    def _run(self) -> None:
        resource_version: str | None = None
        failing_since: float | None = None
        while not self._stopping.is_set():
            kwargs: dict[str, Any] = {"timeout_seconds": 60, "_request_timeout": 90}
            kwargs.update(self._kwargs)
            if resource_version:
                kwargs["resource_version"] = resource_version
            try:
                for event in self._watch.stream(self._list_call, *self._args, **kwargs):
                    received = time.time()
                    failing_since = None
                    obj = event["object"]
                    resource_version = resource_version_of(obj) or resource_version
                    self.on_event(event["type"], obj, received)
                    if self._stopping.is_set():
                        return
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
                if isinstance(error, ApiException) and error.status in (410, 504):
                    resource_version = None
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > FAILING_LIMIT_SECONDS:
                    self._fail(error)
                    return
                self._stopping.wait(0.5)
            except BaseException as error:
                self._fail(error)
                return

    def _fail(self, error: BaseException) -> None:
        with self._changed:
            self.error = error
            self._changed.notify_all()
