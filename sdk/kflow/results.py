"""Persisted results: one pickle file per key under a local directory.

The key (`<flow_run_id>/<task_key>-<dynamic_key>`) is stable across reruns of the same flow run,
which is what lets a resumed or restarted run read back the results of task runs that already
completed instead of running them again.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any


class LocalResultStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"Result key {key!r} must be a relative path without '..'.")
        return self.root / f"{key}.pickle"

    def write(self, key: str, value: Any) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as out:
            pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def read(self, key: str) -> tuple[bool, Any]:
        try:
            with self._path(key).open("rb") as src:
                return True, pickle.load(src)
        except FileNotFoundError:
            return False, None
