"""The Docker engine's events about kflow's containers, so a container's supervisor learns at
once that it died (polling with `observe` is the safety net).

The stream is opened again whenever it fails, and every supervisor is woken on each
(re)connection: anything may have ended while nobody was listening.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import docker

from kflow_operator.launchers.background import Wakes
from kflow_operator.launchers.docker.names import LABEL_UID

logger = logging.getLogger(__name__)


class DeathWatch:
    """Wakes, by container ID, the supervisors of containers that die, until `closed`."""

    def __init__(
        self, client_kwargs: Mapping[str, Any], wakes: Wakes, closed: threading.Event
    ) -> None:
        self._client_kwargs = client_kwargs
        self._wakes = wakes
        self._closed = closed
        self._stream: Any = None

    def run(self) -> None:
        filters = {"type": "container", "label": [LABEL_UID], "event": ["die", "destroy", "oom"]}
        closed = self._closed
        while not closed.is_set():
            try:
                client = docker.DockerClient(**self._client_kwargs)
                stream = client.events(decode=True, filters=filters)
                self._stream = stream
                self._wakes.wake_all()  # anything may have ended while we were not listening
                for event in _events(stream):
                    self._wakes.wake(
                        str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")
                    )
            except Exception as error:
                if closed.is_set():
                    return
                logger.warning("Docker event stream failed (%s); reconnecting", error)
            closed.wait(1.0)

    def close(self) -> None:
        """End an open stream (`run` returns once `closed` is set)."""
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


def _events(stream: Any) -> Iterator[dict[str, Any]]:
    for event in stream:
        if isinstance(event, dict):
            yield event
