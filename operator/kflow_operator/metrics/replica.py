"""Whether this replica is the one acting (kflow_operator.acting), and what build it is."""

from __future__ import annotations

from importlib import metadata

from kflow_operator.acting import is_active
from kflow_operator.metrics import instruments

instruments.ACTIVE.set_function(lambda: 1.0 if is_active() else 0.0)


def version() -> str:
    try:
        return metadata.version("kflow")
    except metadata.PackageNotFoundError:
        return "unknown"


def set_build_info() -> None:
    instruments.BUILD_INFO.labels(version()).set(1)
