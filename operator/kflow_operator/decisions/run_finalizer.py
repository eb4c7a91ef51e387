"""Which FlowRuns need a supervisor, and the operator's finalizer on them.

The finalizer is on a run only while the operator may have infrastructure for it: added right
before a launch, removed once the operator is finished with the run (its infrastructure gone)
or has taken the infrastructure down after a deletion. A run that is never launched (refused,
skipped, failed or cancelled before its launch) never carries one: deleting it waits for
nobody, and settling it costs no metadata writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kflow.resources import GROUP
from kflow.resources.notifications import DeliveryPhase
from kflow.states import TERMINAL_STATE_TYPES

from kflow_operator.decisions.supervised_run import FINISHED

FINALIZER = f"{GROUP}/finalizer"
_TERMINAL = frozenset(t.value for t in TERMINAL_STATE_TYPES)


def needs_supervision(status: Mapping[str, Any]) -> bool:
    """Every run except terminal ones the operator has finished with (their infrastructure
    gone, and no notification waiting for a retry)."""
    state = (status.get("state") or {}).get("type")
    if state not in _TERMINAL:
        return True
    if any(n.get("phase") == DeliveryPhase.PENDING for n in status.get("notifications") or []):
        return True
    return not any(
        c.get("type") == FINISHED and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def finalizers(body: Mapping[str, Any]) -> list[str]:
    return list((body.get("metadata") or {}).get("finalizers") or [])


def has_finalizer(body: Mapping[str, Any]) -> bool:
    return FINALIZER in finalizers(body)


def wants_supervisor(body: Mapping[str, Any]) -> bool:
    """A run that needs supervision, or that still carries the finalizer (finished or deleted
    with it on: the supervisor takes it off)."""
    return needs_supervision(body.get("status") or {}) or has_finalizer(body)


def with_finalizer(body: Mapping[str, Any]) -> list[str] | None:
    """The run's finalizers with the operator's added; None when it is already there."""
    present = finalizers(body)
    return None if FINALIZER in present else [*present, FINALIZER]


def without_finalizer(body: Mapping[str, Any]) -> list[str] | None:
    """The run's finalizers without the operator's; None when it is not there."""
    present = finalizers(body)
    return None if FINALIZER not in present else [f for f in present if f != FINALIZER]
