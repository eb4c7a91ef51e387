"""Persisted results: a storage and a serializer, and how a run's result is shown.

A `ResultStore` writes each result under a key: `<flow_run_id>/<task_key>-<dynamic_key>` for a
task run, `<flow_run_id>/flow` for a flow run, `cache/<hash>` for a cache entry, or what a
task's `result_storage_key` gives. The run keys are stable across reruns of the same flow
run, which is what lets a resumed or restarted run read back the results of task runs that
already completed instead of running them again. The serializer's suffix ends each name
(`.pickle` unless a flow or task chose another serializer).

`encode_result` is how a run's return value is shown, the same in a FlowRun's status and in the
local run history: small JSON inline, else where the persisted result is, always a short repr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kflow.exceptions import ResultStorageError
from kflow.filesystems import WritableFileSystem
from kflow.resources.common import truncate
from kflow.resources.flowrun import HISTORY_MESSAGE_LIMIT as MESSAGE_LIMIT
from kflow.resources.flowrun import RESULT_INLINE_LIMIT_BYTES as INLINE_RESULT_LIMIT
from kflow.serializers import Serializer

__all__ = ["INLINE_RESULT_LIMIT", "ResultStore", "encode_result"]


class ResultStore:
    """One storage and one serializer: where the results of the runs that use them live.

    `exact=True` marks a key that is the stored name as it is (a `result_storage_key`): no
    suffix is added. A storage that fails raises ResultStorageError, one line naming the
    storage and what to check; a key with nothing stored reads as (False, None).
    """

    __slots__ = ("serializer", "storage")

    def __init__(self, storage: WritableFileSystem, serializer: Serializer) -> None:
        self.storage = storage
        self.serializer = serializer

    def updated(
        self, storage: WritableFileSystem | None, serializer: Serializer | None
    ) -> ResultStore:
        """This store with a flow's or task's own storage and serializer, where it sets them."""
        if storage is None and serializer is None:
            return self
        return ResultStore(storage or self.storage, serializer or self.serializer)

    def path(self, key: str, *, exact: bool = False) -> str:
        return key if exact else key + getattr(self.serializer, "suffix", "")

    def write(self, key: str, value: Any, *, exact: bool = False) -> None:
        blob = self.serializer.dumps(value)
        path = self.path(key, exact=exact)
        try:
            self.storage.write_path(path, blob)
        except Exception as error:
            raise self._failure("write", path, error) from None

    def read(self, key: str, *, exact: bool = False) -> tuple[bool, Any]:
        """(True, value) when a result is stored under `key`, else (False, None)."""
        path = self.path(key, exact=exact)
        try:
            blob = self.storage.read_path(path)
        except FileNotFoundError:
            return False, None
        except Exception as error:
            raise self._failure("read", path, error) from None
        return True, self.serializer.loads(blob)

    def location(self, key: str, *, exact: bool = False) -> str:
        """Where the result under `key` is (a path, an s3:// URL) for people to find it."""
        path = self.path(key, exact=exact)
        where = getattr(self.storage, "location", None)
        return str(where(path)) if callable(where) else f"{self.storage!r}: {path}"

    def stored_at(self, key: str) -> str | None:
        """The location of the result under `key`, if one is stored (None also when the
        storage cannot say)."""
        exists = getattr(self.storage, "exists", None)
        try:
            found = exists(self.path(key)) if callable(exists) else self.read(key)[0]
        except Exception:
            return None
        return self.location(key) if found else None

    def _failure(self, action: str, path: str, error: BaseException) -> ResultStorageError:
        explain = getattr(self.storage, "explain", None)
        reason = explain(error) if callable(explain) else f"{type(error).__name__}: {error}"
        message = f"Could not {action} {path!r} in result storage {self.storage}: {reason}."
        return ResultStorageError(message.replace("\n", " "))

    def __repr__(self) -> str:
        return f"ResultStore({self.storage!r}, {self.serializer!r})"


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
