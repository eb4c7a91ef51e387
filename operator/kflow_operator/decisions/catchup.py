"""Which due runs are too late to start: the deadline, and catch-up after downtime.

The rules, applied to a Deployment's due, unstarted runs at one instant `now`:

1. `startingDeadlineSeconds` D: a scheduled run still unstarted at `scheduledTime + D` never
   starts. It ends visibly: state `SCHEDULED`/`Late`, then `CANCELLED`/`Skipped` with a
   message saying which deadline passed. This holds for runs waiting for a concurrency slot too.
2. A scheduled run is *missed* when it is evaluated more than a small tolerance (5 s) after its
   scheduled time and has not been seen on time before (it is not, and never was,
   `AwaitingConcurrencySlot` or held by its work pool):
   no operator was scheduling when it fell due. `catchup` decides the missed runs' fate:
   - `None`: all are skipped.
   - `Latest`: only the most recent due run goes on; every older missed run is skipped.
   - `All`: each one goes on, the most recent `catchupLimit`; older ones are skipped.
3. A paused Deployment starts no scheduled run; due ones are skipped with that reason.

Runs a user started by hand (not from a schedule) are never skipped by these rules.
Runs the scheduling pass never created (because they fell into downtime beyond the
runs created ahead) follow the same rules: it creates only the ones `keep` says go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kflow.resources.common import format_timestamp
from kflow.resources.deployment import CatchupPolicy

from kflow_operator.decisions.deployment_runs import (
    HELD_NAMES,
    LATE_NAME,
    DeploymentRun,
    RunPolicy,
    scheduled_order,
)


@dataclass(frozen=True)
class Skip:
    run: str
    message: str


@dataclass(frozen=True)
class CatchupPlan:
    keep: tuple[DeploymentRun, ...]  # in scheduled order
    skip: tuple[Skip, ...]


def plan_catchup(due: Sequence[DeploymentRun], policy: RunPolicy, now: datetime) -> CatchupPlan:
    """Split due, unstarted runs into those that may go on to the concurrency check and those
    that end as skipped."""
    ordered = sorted(due, key=scheduled_order)
    skips: dict[str, str] = {}
    for run in ordered:
        reason = _deadline_or_pause_reason(run, policy, now)
        if reason is not None:
            skips[run.name] = reason

    remaining = [run for run in ordered if run.name not in skips]
    missed = [run for run in remaining if is_missed(run, policy, now)]
    if missed:
        newest_due = max((run for run in remaining if run.from_schedule), key=scheduled_order)
        for run, message in _catchup_skips(missed, newest_due, policy):
            skips[run.name] = message

    return CatchupPlan(
        keep=tuple(run for run in ordered if run.name not in skips),
        skip=tuple(Skip(run.name, skips[run.name]) for run in ordered if run.name in skips),
    )


def is_missed(run: DeploymentRun, policy: RunPolicy, now: datetime) -> bool:
    return (
        run.from_schedule
        and run.state_name not in HELD_NAMES
        and not run.was_held
        and now - run.due_at > policy.on_time_tolerance
    )


def deadline_of(run: DeploymentRun, policy: RunPolicy) -> datetime | None:
    if not run.from_schedule or policy.starting_deadline_seconds is None:
        return None
    return run.due_at + timedelta(seconds=policy.starting_deadline_seconds)


def _deadline_or_pause_reason(run: DeploymentRun, policy: RunPolicy, now: datetime) -> str | None:
    if not run.from_schedule:
        return None
    if policy.paused:
        return "not started: the Deployment is paused (spec.paused)"
    deadline = deadline_of(run, policy)
    if run.state_name == LATE_NAME or (deadline is not None and now > deadline):
        return (
            f"not started within startingDeadlineSeconds={policy.starting_deadline_seconds} "
            f"of its scheduled time {_due(run)}"
        )
    return None


def _catchup_skips(
    missed: list[DeploymentRun], newest_due: DeploymentRun, policy: RunPolicy
) -> list[tuple[DeploymentRun, str]]:
    window = f"missed while no operator was scheduling (due {{}}, catchup={policy.catchup.value})"
    if policy.catchup is CatchupPolicy.NONE:
        return [(run, window.format(_due(run))) for run in missed]
    if policy.catchup is CatchupPolicy.LATEST:
        return [
            (run, window.format(_due(run)) + f"; {newest_due.name} runs instead")
            for run in missed
            if run.name != newest_due.name
        ]
    too_old = missed[: max(0, len(missed) - policy.catchup_limit)]
    return [
        (
            run,
            window.format(_due(run))
            + f"; only the latest catchupLimit={policy.catchup_limit} missed runs start",
        )
        for run in too_old
    ]


def _due(run: DeploymentRun) -> str:
    """When the run was due, to the second, as messages quote it."""
    return format_timestamp(run.due_at, timespec="seconds")


def missed_fire_times_to_create(
    missed: Sequence[datetime], newer_due_exists: bool, policy: RunPolicy, now: datetime
) -> tuple[datetime, ...]:
    """Of fire times that fell into downtime and have no FlowRun, the ones to create now.

    The same choice `plan_catchup` makes for existing runs, so creating these and evaluating
    them later agree: none past the deadline; `None` creates none, `Latest` the newest unless a
    newer due run already exists, `All` the newest `catchupLimit`.
    """
    if policy.paused or policy.catchup is CatchupPolicy.NONE:
        return ()
    deadline = policy.starting_deadline_seconds
    ordered = sorted(
        instant
        for instant in missed
        if deadline is None or now <= instant + timedelta(seconds=deadline)
    )
    if not ordered:
        return ()
    if policy.catchup is CatchupPolicy.LATEST:
        return () if newer_due_exists else (ordered[-1],)
    return tuple(ordered[-policy.catchup_limit :])
