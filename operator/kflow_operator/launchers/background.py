"""The machinery the Docker and Job launchers share: who to wake when something they watch
changes, the daemon threads that do the watching and sweeping, and one client per thread for
clients that must not be shared (the Docker launcher's; Kubernetes API clients come from
kubeapi/clients.py).

Launchers are called from the operator's worker threads and run threads of their own, so each
piece here is thread-safe; none of it knows about Docker or Kubernetes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from kflow_operator.launchers.base import Wake

logger = logging.getLogger(__name__)

Client = TypeVar("Client")


class Wakes:
    """The supervisors to wake per watched thing (a container ID, a Job UID)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, list[Wake]] = {}

    def add(self, key: str, wake: Wake) -> None:
        with self._lock:
            self._by_key.setdefault(key, []).append(wake)

    def discard(self, key: str) -> None:
        with self._lock:
            self._by_key.pop(key, None)

    def remove(self, key: str, wake: Wake) -> None:
        """Take back one `add` (an adoption refused), leaving whoever else watches `key`."""
        with self._lock:
            wakes = self._by_key.get(key, [])
            if wake in wakes:
                wakes.remove(wake)
            if not wakes:
                self._by_key.pop(key, None)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._by_key

    def wake(self, key: str) -> None:
        """Wake whoever watches `key` (outside the lock: a wake may call back into us)."""
        with self._lock:
            wakes = list(self._by_key.get(key, ()))
        for wake in wakes:
            wake()

    def wake_all(self) -> None:
        """Anything may have changed while we were not listening: everyone looks again."""
        with self._lock:
            wakes = [w for ws in self._by_key.values() for w in ws]
        for wake in wakes:
            wake()


class Workers:
    """A launcher's daemon threads: started together, told to stop together at close.

    Infrastructure outlives them (it runs on its own); they only watch and tidy up.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self.closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def run(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(
            target=target, args=args, name=f"{self._prefix}-{name}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def every(self, name: str, seconds: float, job: Callable[[], object], what: str) -> None:
        """Run `job` every `seconds` until close; a failure is logged and retried next time."""

        def loop() -> None:
            while not self.closed.wait(seconds):
                try:
                    job()
                except Exception as error:
                    logger.warning("%s failed: %s", what, error)

        self.run(name, loop)

    def close(self, join_seconds: float = 2.0) -> None:
        self.closed.set()
        for thread in self._threads:
            thread.join(timeout=join_seconds)


class PerThread(Generic[Client]):
    """One client per thread: HTTP sessions and connection pools are not meant to be shared."""

    def __init__(self, make: Callable[[], Client]) -> None:
        self._make = make
        self._local = threading.local()

    def get(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._make()
            self._local.client = client
        return client
