"""Whether this replica is the one acting, for the metrics and for the work the operator runs
outside Kopf (the FlowRun supervisors, which Kopf's peering does not pause).

Kopf decides peering internally and exposes no state for it; it says so in its log, one line
per change (`Pausing operations in favour of …`, `Resuming operations after the pause…`). A
filter on Kopf's peering logger watches those lines: Kopf starts each peering paused (mandatory
peering) and logs only real flips, so the count of paused peerings is exact. No API call, no
second opinion on who has priority.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

PEERING_LOGGER = "kopf._core.engines.peering"
PAUSING = ("Pausing operations in favour of", "Pausing all operators, including self")
RESUMING = "Resuming operations after the pause"

_active = threading.Event()
"""Set while this replica acts."""
_listeners: list[Callable[[bool], None]] = []
_lock = threading.Lock()


def is_active() -> bool:
    return _active.is_set()


def on_change(listener: Callable[[bool], None]) -> None:
    """Call `listener(active)` (from the logging thread) whenever this replica starts or
    stops acting."""
    with _lock:
        _listeners.append(listener)


def _set_active(active: bool) -> None:
    with _lock:
        if active == _active.is_set():
            return
        if active:
            _active.set()
        else:
            _active.clear()
        listeners = list(_listeners)
    for listener in listeners:
        listener(active)


class PeeringObserver(logging.Filter):
    """Follows Kopf's peering log lines to say whether this replica acts; lets every line
    through."""

    def __init__(self, peerings: int) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.paused = peerings
        """Peerings (one per served namespace, or one cluster-wide) currently pausing us."""
        _set_active(not peerings)

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        change = -1 if message.startswith(RESUMING) else 1 if message.startswith(PAUSING) else 0
        if change:
            with self._lock:
                self.paused = max(0, self.paused + change)
                active = not self.paused
            _set_active(active)
        return True


def observe_peering(standalone: bool, peerings: int) -> None:
    """Follow Kopf's peering (always active when standalone)."""
    if standalone:
        _set_active(True)
        return
    logging.getLogger(PEERING_LOGGER).addFilter(PeeringObserver(peerings))
