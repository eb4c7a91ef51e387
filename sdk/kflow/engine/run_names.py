"""A new flow run's name: its flow's `flow_run_name` template or callable, else a generated
`adjective-animal` name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kflow.context import FlowRunContext, flow_run_ctx
from kflow.names import generate_run_name

if TYPE_CHECKING:
    from kflow.flows import Flow


def render_run_name(
    flow: Flow[Any, Any], params: dict[str, Any], ctx: FlowRunContext, invalid: Any
) -> str:
    """The name; a callable runs inside the new run's context (it may read kflow.runtime).

    A run whose parameters are `invalid` (it ends FAILED before its body) gets a generated
    name when its template cannot be rendered; otherwise that is the user's mistake, raised
    with what a template may use.
    """
    template = flow.flow_run_name
    if template is None:
        return generate_run_name()
    token = flow_run_ctx.set(ctx)
    try:
        name = template() if callable(template) else template.format(**params)
    except Exception as exc:
        if invalid is not None:
            return generate_run_name()
        raise ValueError(
            f"flow_run_name of flow {flow.name!r} could not be rendered: "
            f"{type(exc).__name__}: {exc}. A template may only use the flow's parameter "
            f"names ({', '.join(params) or 'none'}); a callable must return a string."
        ) from exc
    finally:
        flow_run_ctx.reset(token)
    if not isinstance(name, str):
        raise TypeError(
            f"flow_run_name of flow {flow.name!r} returned {name!r}; it must return a string."
        )
    return name
