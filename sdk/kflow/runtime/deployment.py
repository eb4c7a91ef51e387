"""The Deployment the current flow run was started for: id, name, parameters.

In a run of a Deployment (`kflow execute` of a FlowRun naming one in `spec.deploymentRef`):
the Deployment's UID, its name and its `spec.parameters` (its defaults, before the FlowRun's
own parameters are merged in). Inside a subflow run, the Deployment of the run it belongs to.
Outside such a run — a local run, an ad-hoc FlowRun with an inline entrypoint, no run at
all — `id` and `name` are None and `parameters` is {}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kflow.context import flow_run_ctx

if TYPE_CHECKING:
    from kflow.backend import DeploymentInfo


def _deployment() -> DeploymentInfo | None:
    ctx = flow_run_ctx.get()
    while ctx is not None:
        if ctx.flow_run.deployment is not None:
            return ctx.flow_run.deployment
        ctx = ctx.parent
    return None


def _get(field: str, empty: Any = None) -> Callable[[], Any]:
    def getter() -> Any:
        deployment = _deployment()
        if deployment is None:
            return empty() if callable(empty) else empty
        return getattr(deployment, field)

    return getter


_FIELDS: dict[str, Callable[[], Any]] = {
    "id": _get("id"),
    "name": _get("name"),
    "parameters": _get("parameters", dict),
}

__all__ = sorted(_FIELDS)


def __getattr__(name: str) -> Any:
    getter = _FIELDS.get(name)
    if getter is None:
        raise AttributeError(
            f"kflow.runtime.deployment has no attribute {name!r}; available: {', '.join(__all__)}."
        )
    return getter()
