"""Persisted results: one pickle file per key under a local directory.

The key (`<flow_run_id>/<task_key>-<dynamic_key>`) is stable across reruns of the same flow run,
which is what lets a resumed or restarted run read back the results of task runs that already
completed instead of running them again.

`encode_result` is how a run's return value is shown, the same in a FlowRun's status and in the
local run history: small JSON inline, else where the persisted pickle is, always a short repr.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kflow.resources.common import truncate
from kflow.resources.flowrun import HISTORY_MESSAGE_LIMIT as MESSAGE_LIMIT
from kflow.resources.flowrun import RESULT_INLINE_LIMIT_BYTES as INLINE_RESULT_LIMIT

__all__ = ["INLINE_RESULT_LIMIT", "LocalResultStore", "encode_result"]


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

    def stored_at(self, key: str) -> Path | None:
        """Where the result under `key` is, if one was stored."""
        path = self._path(key)
        return path if path.exists() else None

    def read(self, key: str) -> tuple[bool, Any]:
        try:
            with self._path(key).open("rb") as src:
                return True, pickle.load(src)
        except FileNotFoundError:
            return False, None


def encode_result(value: Any, reference: Callable[[], str | None]) -> dict[str, Any]:
    """`status.result` and a local run's result: small JSON inline, anything else as a
    reference to where it is kept.

    `reference` is only called when the value cannot go inline; it returns the persisted
    result's location, or None when the result was not persisted. `summary` is always there,
    so `kubectl get -o yaml` shows something readable either way.
    """
    summary = truncate(repr(value), MESSAGE_LIMIT)
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        text = None
    if value is None:
        return {"summary": summary}
    if text is not None and len(text.encode()) <= INLINE_RESULT_LIMIT:
        return {"value": value, "summary": summary}
    where = reference()
    if where:
        return {"reference": truncate(where, 4096), "summary": summary}
    return {"summary": summary}
