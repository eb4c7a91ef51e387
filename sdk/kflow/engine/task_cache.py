"""The task-run cache: looking a run's key up before its body runs, storing its result after.

An entry is a persisted result like any other, in the task's result store (its
`result_storage` and `result_serializer`, else its flow's), under `cache/<sha256 of the key>`
so that any key string is a safe file name; it carries its expiry time. A storage that cannot
be reached is not a miss: the ResultStorageError goes up and the task run fails. Computing a
key that fails (an input nothing can hash, a raising cache_key_fn) is logged and the run goes
on uncached, as Prefect does: caching is an optimisation, never the reason a run fails.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kflow.exceptions import ResultStorageError

if TYPE_CHECKING:
    from datetime import timedelta

    from kflow.cache_policies import CachePolicy
    from kflow.context import TaskRunContext
    from kflow.logging import RunLogger
    from kflow.results import ResultStore

#: The wall clock entries' expiry is read against (tests inject their own).
clock: Callable[[], float] = time.time

_RECORD = "kflow.cache/1"


def compute_key(
    policy: CachePolicy, ctx: TaskRunContext, inputs: dict[str, Any], logger: RunLogger
) -> str | None:
    """The run's cache key, or None: no key from its policy, or one that could not be made."""
    try:
        return policy.compute_key(ctx, inputs, ctx.flow_ctx.flow_run.parameters)
    except Exception as exc:
        logger.error(
            "Error encountered when computing cache key - result will not be persisted: %s: %s",
            type(exc).__name__,
            exc,
        )
        return None


def storage_key(key: str) -> str:
    return "cache/" + hashlib.sha256(key.encode()).hexdigest()


def lookup(store: ResultStore, key: str, logger: RunLogger) -> tuple[bool, Any]:
    """(True, value) for an entry under `key` that has not expired, else (False, None)."""
    try:
        found, record = store.read(storage_key(key))
    except ResultStorageError:
        raise
    except Exception as exc:  # an entry written by an incompatible version, a broken file
        logger.warning("Could not read the cached result; running the task: %s", exc)
        return False, None
    # A list: the JSON serializer gives tuples back as lists.
    if not found or type(record) not in (tuple, list) or len(record) != 3 or record[0] != _RECORD:
        return False, None
    _, expires_at, value = record
    if expires_at is not None and clock() >= expires_at:
        return False, None
    return True, value


def store(result_store: ResultStore, key: str, value: Any, expiration: timedelta | None) -> None:
    expires_at = None if expiration is None else clock() + expiration.total_seconds()
    result_store.write(storage_key(key), (_RECORD, expires_at, value))
