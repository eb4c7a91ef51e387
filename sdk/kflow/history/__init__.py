"""Local run history: every flow run, task run and state of runs on this machine, in SQLite.

The file is `$KFLOW_HOME/history.db` (KFLOW_HOME defaults to ~/.kflow).
`kflow.backend_selection` makes the backend below the default for local runs; `kflow flow-run
ls|inspect` read it back through `History`.
"""

from __future__ import annotations

from kflow.history.local_backend import LocalHistoryBackend


def create_backend() -> LocalHistoryBackend:
    """The default backend of local runs (called once per process by `get_backend()`)."""
    return LocalHistoryBackend()
