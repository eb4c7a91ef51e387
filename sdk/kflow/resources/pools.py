"""Which work pool a run belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def run_pool(
    run_spec_body: Mapping[str, Any], deployment_spec_body: Mapping[str, Any] | None
) -> str | None:
    """FlowRun.spec.workPool.name, else its Deployment's spec.workPool.name, else None."""
    for spec in (run_spec_body, deployment_spec_body or {}):
        name = (spec.get("workPool") or {}).get("name")
        if name:
            return str(name)
    return None
