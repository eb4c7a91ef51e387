"""What the FlowRun supervisor records, each at the one place the operator makes or first sees
a transition: after its own write succeeded (launch, CRASHED, kill, Finished) or when a state
entry is new to this process. Durations come from the run's status timestamps, never from this
process's clock, so a restarted operator measures the same run the same way and does not count
it again (a run it finished before the restart no longer reaches these calls).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kflow_operator.infrastructure import Observation
from kflow_operator.metrics import instruments
from kflow_operator.metrics.run_facts import (
    crash_reason,
    created_at,
    deployment_of,
    infrastructure_of,
    instant,
    namespace_of,
    pool_of,
    recorded_exit,
    scheduled_time,
    seconds_between,
    state_of,
    status_field,
)

RUNNING = "RUNNING"
CRASHED = "CRASHED"


def launched(body: Mapping[str, Any]) -> None:
    """The run's infrastructure was started and recorded (PENDING with its identifier).
    Only the first attempt measures creation → launch; a relaunch measures something else."""
    infra = status_field(body, "infrastructure") or {}
    if (infra.get("attempt") or 1) != 1:
        return
    seconds = seconds_between(created_at(body), infra.get("launchTime"))
    if seconds is not None:
        instruments.TIME_TO_LAUNCH.labels(infrastructure_of(body)).observe(seconds)


def state_seen(body: Mapping[str, Any], state_type: str, timestamp: datetime) -> None:
    """A state entry this process sees for the first time. The first RUNNING (the one
    status.startTime records) measures creation → RUNNING and schedule → start."""
    if state_type != RUNNING:
        return
    started = instant(status_field(body, "startTime"))
    if started is None or started != timestamp:
        return
    to_running = seconds_between(created_at(body), started)
    if to_running is not None:
        instruments.TIME_TO_RUNNING.labels(infrastructure_of(body)).observe(to_running)
    delay = seconds_between(scheduled_time(body), started)
    if delay is not None:
        instruments.START_DELAY.labels(pool_of(body)).observe(delay)


def finished(body: Mapping[str, Any], observation: Observation | None) -> None:
    """The operator wrote the Finished condition (once per run, whoever wrote the final
    state): the final state is counted, the duration observed when the run ever started, and a
    CRASHED run counted by why its infrastructure ended (`observation`, when known)."""
    state, _ = state_of(body)
    labels = (namespace_of(body), deployment_of(body), state)
    instruments.FINISHED.labels(*labels).inc()
    duration = seconds_between(status_field(body, "startTime"), status_field(body, "endTime"))
    if duration is not None:
        instruments.DURATION.labels(*labels).observe(duration)
    if state == CRASHED:
        reason = crash_reason(observation or recorded_exit(body))
        instruments.CRASHES.labels(infrastructure_of(body), reason).inc()


def killed_after_grace(body: Mapping[str, Any]) -> None:
    instruments.CANCEL_KILLS.labels(infrastructure_of(body)).inc()


def cancel_unenforced(reason: str) -> None:
    """`reason`: the CancelFailed condition's reason (NoInfrastructureIdentifier, KillFailed)."""
    instruments.CANCEL_UNENFORCED.labels(reason).inc()
