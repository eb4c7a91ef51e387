"""What the metrics read from a FlowRun body: its labels and its durations. Pure (no
Prometheus, no API), so the rules are tested on their own.

Labels are bounded by Deployments and work pools: never a run's name or UID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kflow.resources.common import parse_timestamp

from kflow_operator.infrastructure import Observation, ObservedPhase, signal_of_exit_code

NO_STATE = "NONE"
"""The state label of a FlowRun that has no state yet (created, not yet seen by an operator)."""

_REASON_WORD = re.compile(r"[A-Z][A-Za-z]{1,39}")
"""A Kubernetes-style reason (OOMKilled, Evicted, DeadlineExceeded): one CamelCase word."""
_NOT_REASONS = frozenset({"Docker"})
"""Leading words of reasons that are prefixes, not reasons (`Docker: <the daemon's error>`)."""


_EMPTY: Mapping[str, Any] = {}


def _mapping(value: Any) -> Mapping[str, Any]:
    # Bodies are parsed JSON: a plain dict is checked first, the ABC check (slow, and every
    # FlowRun the index takes makes several) only for anything else.
    if type(value) is dict:
        return value
    return value if isinstance(value, Mapping) else _EMPTY


def pool_of(body: Mapping[str, Any]) -> str:
    """The work pool the run names itself ("" when none); a run that names none is in its
    Deployment's pool, which the gauges look up when they count (run_gauges.RunCounts)."""
    pool = _mapping(_mapping(body.get("spec")).get("workPool")).get("name")
    return str(pool) if pool else ""


def deployment_of(body: Mapping[str, Any]) -> str:
    """The run's Deployment ("" for an ad-hoc run)."""
    name = _mapping(_mapping(body.get("spec")).get("deploymentRef")).get("name")
    return str(name) if name else ""


def namespace_of(body: Mapping[str, Any]) -> str:
    return str(_mapping(body.get("metadata")).get("namespace") or "")


def infrastructure_of(body: Mapping[str, Any]) -> str:
    """The infrastructure type recorded at launch ("" before any launch, or when the run was
    started outside any operator)."""
    kind = _mapping(_mapping(body.get("status")).get("infrastructure")).get("type")
    return str(kind) if kind else ""


def state_of(body: Mapping[str, Any]) -> tuple[str, str]:
    """(state type, state name); NO_STATE and "" when the run has none yet."""
    state = _mapping(_mapping(body.get("status")).get("state"))
    return str(state.get("type") or NO_STATE), str(state.get("name") or "")


RunSummary = tuple[str, str, str, str, str, float | None]
"""(state type, state name, work pool, namespace, Deployment, due): all the run gauges count.
`due` (spec.scheduledTime, POSIX seconds) only for a SCHEDULED run: other runs' summaries stay
alike, so counting them stays cheap."""


def run_summary(body: Mapping[str, Any]) -> RunSummary:
    state_type, state_name = state_of(body)
    due = None
    if state_type == "SCHEDULED":
        when = instant(scheduled_time(body))
        due = when.timestamp() if when is not None else None
    return (state_type, state_name, pool_of(body), namespace_of(body), deployment_of(body), due)


def instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return parse_timestamp(value)
        except ValueError:
            return None
    return None


def seconds_between(start: Any, end: Any) -> float | None:
    """Seconds from `start` to `end` (RFC 3339 strings or datetimes); None when either is
    missing or unreadable. Never negative: clocks of different writers may disagree a little."""
    first, last = instant(start), instant(end)
    if first is None or last is None:
        return None
    return max(0.0, (last - first).total_seconds())


def created_at(body: Mapping[str, Any]) -> Any:
    return _mapping(body.get("metadata")).get("creationTimestamp")


def status_field(body: Mapping[str, Any], name: str) -> Any:
    return _mapping(body.get("status")).get(name)


def scheduled_time(body: Mapping[str, Any]) -> Any:
    return _mapping(body.get("spec")).get("scheduledTime")


def recorded_exit(body: Mapping[str, Any]) -> Observation:
    """How the infrastructure ended as status.infrastructure records it (exit code, signal)."""
    infra = _mapping(_mapping(body.get("status")).get("infrastructure"))
    code = infra.get("exitCode")
    signal = infra.get("signal")
    return Observation(
        ObservedPhase.EXITED,
        exit_code=code if isinstance(code, int) else None,
        signal=str(signal) if signal else None,
    )


def crash_reason(observation: Observation) -> str:
    """A bounded label for why the infrastructure ended: Kubernetes' own reason when it gave
    one (OOMKilled, Evicted, DeadlineExceeded, Error…), else the signal (SIGKILL…), else
    `Error` for a non-zero exit code, `Completed` for exit 0 without a final state, `Missing`
    when the infrastructure is gone without a trace, `Unknown` otherwise. An exit code above
    128 is the signal's (128+N: 143 is SIGTERM), as Kubernetes reports containers."""
    first = observation.reason.split(";", 1)[0].split(":", 1)[0].strip()
    if _REASON_WORD.fullmatch(first) and first not in _NOT_REASONS:
        return first
    if observation.signal:
        return observation.signal
    if observation.exit_code is not None:
        signal = signal_of_exit_code(observation.exit_code)
        if signal:
            return signal
        return "Error" if observation.exit_code != 0 else "Completed"
    if observation.phase is ObservedPhase.MISSING:
        return "Missing"
    return "Unknown"
