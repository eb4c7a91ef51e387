"""Which work pool a run belongs to: the one rule every reader of pools shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def run_pool(
    run_spec_body: Mapping[str, Any], deployment_spec_body: Mapping[str, Any] | None
) -> str | None:
    """The pool of a FlowRun: its own spec.workPool.name (a one-off override), else its
    Deployment's spec.workPool.name, else None (a run of no pool)."""
    for spec in (run_spec_body, deployment_spec_body or {}):
        name = (spec.get("workPool") or {}).get("name")
        if name:
            return str(name)
    return None
