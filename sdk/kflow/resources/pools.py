"""Which work pool a run belongs to, read from the raw objects.

One rule for everyone who needs it (the operator's launch gate and filtering, the pool status,
the dashboard, the CLI): the FlowRun's own `spec.workPool` (a one-off override, immutable)
wins, else its Deployment's `spec.workPool`, else none. Plain mappings rather than models, so
that a cheap look-up over thousands of indexed bodies parses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _pool_name(spec_body: Mapping[str, Any] | None) -> str | None:
    if not spec_body:
        return None
    ref = spec_body.get("workPool")
    if not isinstance(ref, Mapping):
        return None
    name = ref.get("name")
    return str(name) if name else None


def run_pool(
    run_spec_body: Mapping[str, Any], deployment_spec_body: Mapping[str, Any] | None
) -> str | None:
    """The pool of a run: FlowRun.spec.workPool.name, else its Deployment's, else None.

    `run_spec_body` is the FlowRun's `spec`; `deployment_spec_body` its Deployment's `spec`
    (None when it has no Deployment or the Deployment is not known)."""
    return _pool_name(run_spec_body) or _pool_name(deployment_spec_body)
