"""The current flow run: id, name, flow_name, parameters, tags, scheduled_start_time, …"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kflow.context import flow_run_ctx


def _run() -> Any:
    ctx = flow_run_ctx.get()
    return ctx.flow_run if ctx is not None else None


def _get(field: str, empty: Any = None) -> Callable[[], Any]:
    def getter() -> Any:
        run = _run()
        if run is None:
            return empty() if callable(empty) else empty
        return getattr(run, field)

    return getter


_FIELDS: dict[str, Callable[[], Any]] = {
    "id": _get("id"),
    "name": _get("name"),
    "flow_name": _get("flow_name"),
    "flow_version": _get("flow_version"),
    "parameters": _get("parameters", dict),
    "tags": _get("tags", list),
    "scheduled_start_time": _get("scheduled_start_time"),
    "expected_start_time": _get("expected_start_time"),
    "start_time": _get("start_time"),
    "run_count": _get("run_count", 0),
    "parent_flow_run_id": _get("parent_flow_run_id"),
    "parent_task_run_id": _get("parent_task_run_id"),
}

__all__ = sorted(_FIELDS)


def __getattr__(name: str) -> Any:
    getter = _FIELDS.get(name)
    if getter is None:
        raise AttributeError(
            f"kflow.runtime.flow_run has no attribute {name!r}; available: {', '.join(__all__)}."
        )
    return getter()
