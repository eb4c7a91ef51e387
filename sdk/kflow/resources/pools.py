"""Which work pool a run belongs to: one answer for the operator, the CLI and the dashboard."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def run_pool(
    run_spec_body: Mapping[str, Any], deployment_spec_body: Mapping[str, Any] | None
) -> str | None:
    """FlowRun.spec.workPool.name, else its Deployment's spec.workPool.name, else None: a
    FlowRun may move one run to another pool, and otherwise runs where its Deployment does."""
    for body in (run_spec_body, deployment_spec_body or {}):
        name = (body.get("workPool") or {}).get("name")
        if name:
            return str(name)
    return None
