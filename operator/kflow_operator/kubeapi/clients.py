"""One Kubernetes API client per thread, made the way `kubectl` would connect.

The operator calls the API from many threads (its worker pool, launcher watches and sweepers,
the informers); a generated client's connection pool is not meant to be shared between them, so
each thread gets a client of its own on its first call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kflow.cluster.kubernetes_client import new_api_client
from kubernetes.client import ApiClient

from kflow_operator.metrics.api_requests import instrument

ClientFactory = Callable[[], ApiClient]
"""Gives the calling thread's API client."""


class ThreadClients:
    """A ClientFactory that makes each thread's client once and then hands it back; every
    request of those clients is counted and timed (metrics/api_requests.py)."""

    def __init__(self, make: ClientFactory = new_api_client) -> None:
        self._make = make
        self._local = threading.local()

    def __call__(self) -> ApiClient:
        api_client: ApiClient | None = getattr(self._local, "client", None)
        if api_client is None:
            api_client = instrument(self._make())
            self._local.client = api_client
        return api_client
