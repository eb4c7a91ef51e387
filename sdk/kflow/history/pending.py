"""Read-your-writes within one process.

A top-level flow run returns once its own state is in the history; its task runs and log lines
follow from the writer thread (as Prefect 3's task-run events follow its flow's return). A reader
in the same process must still see everything the process has reported, so `History` settles
the writers of its database before it reads.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Protocol


class Writer(Protocol):
    path: Path

    def write_reported(self) -> None: ...


_writers: weakref.WeakSet[Writer] = weakref.WeakSet()


def register(writer: Writer) -> None:
    _writers.add(writer)


def settle(path: Path) -> None:
    """Write out what this process's writers of `path` hold (no-op when there are none)."""
    for writer in list(_writers):
        if writer.path == path:
            writer.write_reported()
