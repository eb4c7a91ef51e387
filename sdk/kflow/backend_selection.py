"""Which backend a new top-level flow run reports to, decided here and nowhere else.

`set_backend()` overrides the choice (what `kflow execute` does with its FlowRun backend);
otherwise `KFLOW_BACKEND=memory` selects the in-memory backend, and by default local runs go to
the SQLite history under KFLOW_HOME. A subflow uses its parent's backend, not this choice.
"""

from __future__ import annotations

import os
import threading

from kflow.backend import Backend, MemoryBackend
from kflow.history import create_backend

_lock = threading.Lock()
_backend: Backend | None = None


def set_backend(backend: Backend | None) -> None:
    """Use `backend` for every flow run started from now on (None: back to the default)."""
    global _backend
    with _lock:
        _backend = backend


def get_backend() -> Backend:
    """The backend for a new top-level flow run."""
    global _backend
    backend = _backend
    if backend is not None:
        return backend
    with _lock:
        if _backend is None:
            _backend = _default_backend()
        return _backend


def _default_backend() -> Backend:
    if os.environ.get("KFLOW_BACKEND", "").lower() == "memory":
        return MemoryBackend()
    return create_backend()
