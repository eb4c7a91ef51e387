"""A light watch for the scale benchmark: how many objects of a namespace are in a terminal
state, and how many writes (MODIFIED events) the namespace saw, without keeping bodies.

RunWatch (bench._cluster) keeps every run's newest body and re-checks a condition over all of
them on every event: with 5,000 runs that is O(N) per event, seconds of the benchmark's own
CPU taken from the operator on a 2-core host. This keeps one state string per object.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import urllib3
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from bench._cluster import GROUP, TERMINAL, VERSION, Api

FAILING_LIMIT_SECONDS = 60.0


class ObjectCounts:
    """Follows one plural of one namespace from `resource_version` (None: from a fresh list)."""

    def __init__(self, api: Api, namespace: str, plural: str) -> None:
        self._api = api
        self._namespace = namespace
        self._plural = plural
        self._states: dict[str, str | None] = {}
        self._terminal = 0
        self.modified = 0
        """MODIFIED events seen: every write to an object of the namespace is one."""
        self.last_terminal_at: float | None = None
        """When the newest terminal state arrived (time.monotonic)."""
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._watch: Any = watch.Watch()  # type: ignore[no-untyped-call]
        self._thread = threading.Thread(target=self._run, name=f"{plural}-counts", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> ObjectCounts:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._watch.stop()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        resource_version: str | None = None
        failing_since: float | None = None
        while not self._stopping.is_set():
            kwargs: dict[str, Any] = {"timeout_seconds": 60, "_request_timeout": 90}
            if resource_version:
                kwargs["resource_version"] = resource_version
            try:
                for event in self._watch.stream(
                    self._api.objects.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self._namespace,
                    self._plural,
                    **kwargs,
                ):
                    failing_since = None
                    obj = event["object"]
                    resource_version = obj["metadata"].get("resourceVersion")
                    self._record(event["type"], obj)
                    if self._stopping.is_set():
                        return
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
                if isinstance(error, ApiException) and error.status in (410, 504):
                    # Relisting would count every object again as ADDED: only the
                    # terminal count is rebuilt from it, the write count stays right.
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

    def _record(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        state = ((obj.get("status") or {}).get("state") or {}).get("type")
        with self._changed:
            if kind == "MODIFIED":
                self.modified += 1
            before = self._states.get(name)
            if kind == "DELETED":
                self._states.pop(name, None)
                state = None
            else:
                self._states[name] = state
            self._terminal += (state in TERMINAL) - (before in TERMINAL)
            if state in TERMINAL and before not in TERMINAL:
                self.last_terminal_at = time.monotonic()
            self._changed.notify_all()

    def outcomes(self) -> dict[str, int]:
        with self._changed:
            found: dict[str, int] = {}
            for state in self._states.values():
                found[state or "none"] = found.get(state or "none", 0) + 1
            return found

    def wait_terminal(self, count: int, timeout: float) -> bool:
        """Block until `count` objects are terminal; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._terminal < count:
                if self.error is not None:
                    raise RuntimeError(f"the {self._plural} watch failed: {self.error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 1.0))
        return True

    def wait_seen(self, count: int, timeout: float) -> bool:
        """Block until the watch has seen `count` objects (its first listing is in)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._states) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 1.0))
        return True
