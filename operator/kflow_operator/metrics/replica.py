"""Whether this replica is the one acting, and what build it is.

Kopf decides peering internally and exposes no state for it; it says so in its log, one line
per change (`Pausing operations in favour of …`, `Resuming operations after the pause…`). A
filter on Kopf's peering logger watches those lines: Kopf starts each peering paused (mandatory
peering) and logs only real flips, so the count of paused peerings is exact. No API call, no
second opinion on who has priority.
"""

from __future__ import annotations

import logging
import threading
from importlib import metadata

from kflow_operator.metrics import instruments

PEERING_LOGGER = "kopf._core.engines.peering"
PAUSING = ("Pausing operations in favour of", "Pausing all operators, including self")
RESUMING = "Resuming operations after the pause"


_active = threading.Event()
"""Set while this replica acts."""
instruments.ACTIVE.set_function(lambda: 1.0 if _active.is_set() else 0.0)


def is_active() -> bool:
    return _active.is_set()


def _set_active(active: bool) -> None:
    if active:
        _active.set()
    else:
        _active.clear()


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
                _set_active(not self.paused)
        return True


def observe_peering(standalone: bool, peerings: int) -> None:
    """kflow_operator_active follows Kopf's peering (always 1 when standalone)."""
    if standalone:
        _set_active(True)
        return
    logging.getLogger(PEERING_LOGGER).addFilter(PeeringObserver(peerings))


def version() -> str:
    try:
        return metadata.version("kflow")
    except metadata.PackageNotFoundError:
        return "unknown"


def set_build_info() -> None:
    instruments.BUILD_INFO.labels(version()).set(1)
