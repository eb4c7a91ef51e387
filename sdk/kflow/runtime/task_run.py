"""The current task run: id, name, task_name, parameters, tags, run_count, …"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kflow.context import task_run_ctx


def _get(field: str, empty: Any = None) -> Callable[[], Any]:
    def getter() -> Any:
        ctx = task_run_ctx.get()
        if ctx is None:
            return empty() if callable(empty) else empty
        return getattr(ctx.task_run, field)

    return getter


_FIELDS: dict[str, Callable[[], Any]] = {
    "id": _get("id"),
    "name": _get("name"),
    "task_name": _get("task_name"),
    "task_key": _get("task_key"),
    "parameters": _get("parameters", dict),
    "tags": _get("tags", list),
    "run_count": _get("run_count", 0),
    "flow_run_id": _get("flow_run_id"),
    "start_time": _get("start_time"),
}

__all__ = sorted(_FIELDS)


def __getattr__(name: str) -> Any:
    getter = _FIELDS.get(name)
    if getter is None:
        raise AttributeError(
            f"kflow.runtime.task_run has no attribute {name!r}; available: {', '.join(__all__)}."
        )
    return getter()
