"""Kubernetes Events the operator's decisions announce (what `kubectl describe` shows).

Plain values: decisions and the scheduling pass return them, and kflow_operator/events.py posts
them through Kopf.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kflow.resources import StateHistoryEntry
from kflow.states import StateType


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str
    about: Mapping[str, Any] | None = None  # the object it is posted on; None: the caller's


def replaced_event(replaced: Mapping[str, Any], by: str) -> Event:
    return Event(
        "Normal",
        "Replaced",
        f"concurrencyPolicy=Replace: cancelled to make room for the newer run {by}",
        replaced,
    )


def state_event(entry: StateHistoryEntry) -> Event:
    """One state change of a run, whoever wrote it: a Warning for FAILED and CRASHED."""
    message = f"{entry.type.value}: {entry.message}" if entry.message else entry.type.value
    kind = "Warning" if entry.type in (StateType.FAILED, StateType.CRASHED) else "Normal"
    return Event(kind, entry.name, message)
