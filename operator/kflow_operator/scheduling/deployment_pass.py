"""One scheduling pass over a Deployment: read it and its runs, ask the decisions, write.

Synchronous, run in a worker thread by handlers/deployments.py (which owns the timing). No kopf
here; every write is safe to repeat, so a pass interrupted at any point (operator killed) or
run by two operators at once converges to the same objects:

- scheduled runs are created under deterministic names, and 409 AlreadyExists is success;
- state writes carry the resourceVersion they were decided on (409 Conflict: someone else
  moved the run; the next pass decides again);
- deletions carry the resourceVersion too, so a run that started meanwhile is never deleted
  as "unstarted".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from kflow.resources import DeploymentSpec, format_timestamp, parse_timestamp
from kflow.resources.pools import run_pool
from kflow.states import StateType
from pydantic import ValidationError

from kflow_operator.decisions.catchup import deadline_of, missed_fire_times_to_create
from kflow_operator.decisions.concurrency import DuePlan, StartVerdict, plan_due_runs
from kflow_operator.decisions.deployment_runs import (
    AWAITING_POOL_NAME,
    AWAITING_SLOT_NAME,
    HELD_NAMES,
    POOL_PAUSED_NAME,
    SCHEDULED_NAME,
    DeploymentRun,
    RunPolicy,
)
from kflow_operator.decisions.events import Event, replaced_event
from kflow_operator.decisions.history import runs_to_delete
from kflow_operator.decisions.pool_admission import PoolVerdict, is_pool_hold
from kflow_operator.decisions.schedules import (
    Schedule,
    ScheduleError,
    describe_schedules,
    fire_times_in_window,
    latest_fire_time,
    next_fire_time,
    parse_schedules,
    scheduled_run_name,
    upcoming_fire_times,
)
from kflow_operator.kubeapi import Body
from kflow_operator.scheduling.deployment_status import last_success, write_status
from kflow_operator.scheduling.pool_gate import pool_decision, pool_state
from kflow_operator.scheduling.run_bodies import scheduled_run_body
from kflow_operator.scheduling.run_states import skip_run, write_run_state
from kflow_operator.scheduling.store import ScheduleApi
from kflow_operator.scheduling.views import deployment_run, run_policy


@dataclass
class PassResult:
    wake_at: datetime | None = None
    events: list[Event] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def scheduling_pass(api: ScheduleApi, deployment: Body, now: datetime) -> PassResult:
    """Bring a Deployment's runs and status in line with its spec at `now`."""
    meta = deployment["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    status = deployment.get("status") or {}
    result = PassResult()
    try:
        spec = DeploymentSpec.model_validate(deployment.get("spec") or {})
        schedules = parse_schedules(
            [dict(item) for item in (deployment.get("spec") or {}).get("schedules") or []]
        )
    except (ValidationError, ScheduleError) as error:
        message = str(error)
        runs = [run for run in api.list_runs(namespace, name) if _is_future_preview(run, now)]
        for run in runs:
            if api.delete_run(namespace, run["metadata"]["name"], _rv(run)):
                result.deleted.append(run["metadata"]["name"])
        write_status(
            api,
            deployment,
            now,
            {"nextScheduleTime": None},
            ready=(False, "InvalidSchedule", message),
            scheduling=(False, "InvalidSchedule", message),
        )
        result.events.append(Event("Warning", "InvalidSchedule", message))
        return result

    policy = run_policy(spec)
    bodies = {run["metadata"]["name"]: run for run in api.list_runs(namespace, name)}
    views = {run_name: deployment_run(body) for run_name, body in bodies.items()}
    window_start = _window_start(deployment, now)

    if not spec.paused and schedules:
        _create_missed_runs(api, deployment, schedules, policy, views, window_start, now, result)
    wanted = [] if spec.paused else upcoming_fire_times(schedules, now, spec.upcoming_runs)
    wanted_names = {scheduled_run_name(name, meta["uid"], t): t for t in wanted}
    for run_name, instant in wanted_names.items():
        if run_name not in views and api.create_run(
            namespace, scheduled_run_body(deployment, instant)
        ):
            result.created.append(run_name)
    stale = [n for n, b in bodies.items() if _is_future_preview(b, now) and n not in wanted_names]
    for run_name in stale:
        if api.delete_run(namespace, run_name, _rv(bodies[run_name])):
            result.deleted.append(run_name)
            views.pop(run_name, None)

    plan = plan_due_runs(list(views.values()), policy, now)
    pool_waits = _carry_out(api, deployment, spec, plan, bodies, views, now)
    starting = [n for n, d in plan.decisions.items() if d.verdict is StartVerdict.START]
    for run_name in plan.cancel:
        if not views[run_name].cancel_requested:
            api.request_cancel(namespace, run_name)
            result.events.append(replaced_event(bodies[run_name], ", ".join(starting)))

    prune_again = None
    for run_name in runs_to_delete(
        list(views.values()), spec.successful_runs_history_limit, spec.failed_runs_history_limit
    ):
        # Look again soon either way: after deletions, because more runs may have ended
        # meanwhile, and wakes (one per changed run, through Kopf's event queue) lag far
        # behind the index in a burst; after a failure (moved twice, the API failed), to retry.
        prune_again = now + PRUNE_RETRY
        if api.delete_finished_run(namespace, run_name, _rv(bodies[run_name])):
            result.deleted.append(run_name)
            views.pop(run_name, None)

    upcoming = None if spec.paused else next_fire_time(schedules, now)
    # Every fire time up to now has been dealt with (run created, or skipped and announced):
    # the next pass counts missed runs from here. Instants before the Deployment existed, or
    # while it is paused, are not "last scheduled" runs (unpausing is a spec change, and a
    # changed spec counts from the change).
    latest = latest_fire_time(schedules, now)
    created = parse_timestamp(meta["creationTimestamp"])
    previous_last = status.get("lastScheduleTime")
    last = latest if latest is not None and latest >= created and not spec.paused else None
    fields: dict[str, Any] = {
        "scheduleSummary": describe_schedules(schedules),
        "nextScheduleTime": format_timestamp(upcoming) if upcoming else None,
        "lastScheduleTime": format_timestamp(last) if last else previous_last,
        "activeRuns": sorted(v.name for v in views.values() if v.is_active) or None,
        **last_success(views.values(), status),
    }
    if spec.paused:
        state = (True, "Paused", "spec.paused is true: no new runs are scheduled.")
    elif not schedules:
        state = (True, "NoSchedules", "No active schedules; runs start only when requested.")
    else:
        state = (True, "Scheduled", f"{len(wanted)} upcoming runs created ahead.")
    ready = _missing_pool(api, namespace, spec) or state
    write_status(api, deployment, now, fields, ready=ready, scheduling=state)

    # A run created ahead is started by its own supervisor at its time; the pass that follows
    # only tops up the runs ahead, so it yields the fire instant to the launches.
    top_up = None
    if upcoming is not None:
        top_up = upcoming + (TOP_UP_LAG if spec.upcoming_runs > 0 else timedelta(0))
    wake_candidates = [
        t for t in (top_up, plan.recheck_at, prune_again, *pool_waits) if t is not None
    ]
    result.wake_at = min(wake_candidates, default=None)
    return result


def _carry_out(
    api: ScheduleApi,
    deployment: Body,
    spec: DeploymentSpec,
    plan: DuePlan,
    bodies: Mapping[str, Body],
    views: Mapping[str, DeploymentRun],
    now: datetime,
) -> list[datetime | None]:
    """Write what the plan says of each due run, with its work pool's say on the runs the
    Deployment lets go: skipped, held (by the Deployment or the pool), or released. Returns
    the starting deadlines of the runs the pool holds (the pass looks again then)."""
    namespace = deployment["metadata"]["namespace"]
    policy = run_policy(spec)
    run_type = (
        spec.infrastructure.type.value if spec.infrastructure and spec.infrastructure.type else None
    )
    pool_waits: list[datetime | None] = []
    for run_name, decision in plan.decisions.items():
        body = bodies.get(run_name)
        if body is None:
            continue
        view = views[run_name]
        message = ((body.get("status") or {}).get("state") or {}).get("message")
        if decision.verdict is StartVerdict.SKIP:
            skip_run(api, body, decision.message, now)
        elif decision.verdict is StartVerdict.WAIT:
            if view.state_name != AWAITING_SLOT_NAME or is_pool_hold(view.state_name, message):
                write_run_state(
                    api, body, StateType.SCHEDULED, AWAITING_SLOT_NAME, decision.message, now
                )
        elif decision.verdict is StartVerdict.START:
            pool = run_pool(body.get("spec") or {}, deployment.get("spec"))
            held = pool_decision(api, namespace, pool, run_name, now, run_type) if pool else None
            if held is not None and held.verdict is PoolVerdict.HOLD:
                pool_waits.append(deadline_of(view, policy))
                if (view.state_name, message) != (held.state_name, held.message):
                    write_run_state(
                        api, body, StateType.SCHEDULED, held.state_name, held.message, now
                    )
            elif view.state_name in HELD_NAMES:
                write_run_state(
                    api, body, StateType.SCHEDULED, SCHEDULED_NAME, _release_message(view), now
                )
    return pool_waits


def _missing_pool(
    api: ScheduleApi, namespace: str, spec: DeploymentSpec
) -> tuple[bool, str, str] | None:
    """Ready False (WorkPoolNotFound) when the Deployment names a pool that does not exist."""
    if spec.work_pool is None or pool_state(api, namespace, spec.work_pool.name).exists:
        return None
    name = spec.work_pool.name
    return (
        False,
        "WorkPoolNotFound",
        f"spec.workPool.name {name!r} names no WorkPool in namespace {namespace!r}; its due "
        f"runs wait (AwaitingWorkPool) until it is created (kflow work-pool create {name} "
        "--type TYPE) or spec.workPool.name names an existing pool.",
    )


def _release_message(view: DeploymentRun) -> str:
    if view.state_name == POOL_PAUSED_NAME:
        return "Its work pool is no longer paused; starting in scheduled order."
    if view.state_name == AWAITING_POOL_NAME:
        return "Its work pool exists now; starting in scheduled order."
    return "A concurrency slot is free; starting in scheduled order."


TOP_UP_LAG = timedelta(milliseconds=500)
"""How long after a fire time the pass that creates the next run ahead waits."""

PRUNE_RETRY = timedelta(seconds=1)
"""A finished run that could not be deleted (it changed since read) is tried again this soon."""

MISSED_RUNS_EXAMINED = 1000
"""After downtime, at most this many of the most recent missed fire times are looked at."""


def _create_missed_runs(
    api: ScheduleApi,
    deployment: Body,
    schedules: Sequence[Schedule],
    policy: RunPolicy,
    views: dict[str, DeploymentRun],
    window_start: datetime,
    now: datetime,
    result: PassResult,
) -> None:
    """Fire times in (window start, now] without a run: create the ones catch-up keeps and
    announce the others in one Warning event (never a pile of objects made only to skip)."""
    meta = deployment["metadata"]
    window = fire_times_in_window(
        schedules,
        window_start,
        now,
        keep_latest=MISSED_RUNS_EXAMINED,
        count_limit=MISSED_RUNS_EXAMINED,
    )
    missing = [
        t for t in window.latest if scheduled_run_name(meta["name"], meta["uid"], t) not in views
    ]
    if not missing:
        return
    on_time = [t for t in missing if now - t <= policy.on_time_tolerance]
    late = [t for t in missing if now - t > policy.on_time_tolerance]
    newest_late = max(late, default=None)
    newer_due_exists = bool(on_time) or any(
        view.from_schedule
        and view.scheduled_time is not None
        and newest_late is not None
        and newest_late < view.scheduled_time <= now
        for view in views.values()
    )
    to_create = [*missed_fire_times_to_create(late, newer_due_exists, policy, now), *on_time]
    for instant in sorted(to_create):
        body = scheduled_run_body(deployment, instant)
        if api.create_run(meta["namespace"], body):
            result.created.append(body["metadata"]["name"])
        stamped = {**body["metadata"], "creationTimestamp": format_timestamp(now)}
        views[body["metadata"]["name"]] = deployment_run({**body, "metadata": stamped})
    not_created = len(missing) - len(to_create)
    if not_created > 0:
        count = f"{not_created}" if window.count_is_exact else f"more than {not_created}"
        result.events.append(
            Event(
                "Warning",
                "MissedRuns",
                f"{count} scheduled runs fell due between {format_timestamp(window_start)} and "
                f"{format_timestamp(now)} while no operator was scheduling; not started "
                f"(catchup={policy.catchup.value}, catchupLimit={policy.catchup_limit}, "
                f"startingDeadlineSeconds={policy.starting_deadline_seconds}).",
            )
        )


def _window_start(deployment: Mapping[str, Any], now: datetime) -> datetime:
    """Where missed runs are counted from.

    The last fire time a pass dealt with, when the spec is the one that pass saw. A new
    Deployment counts from its creation (created while no operator ran: those runs were
    missed). A changed spec counts from now: the new schedule's past instants were never due.
    """
    meta = deployment["metadata"]
    status = deployment.get("status") or {}
    created = parse_timestamp(meta["creationTimestamp"])
    observed = status.get("observedGeneration")
    if observed is None:
        return created
    if observed != meta.get("generation"):
        return now
    last = status.get("lastScheduleTime")
    return max(created, parse_timestamp(last)) if last else created


def _is_future_preview(body: Mapping[str, Any], now: datetime) -> bool:
    """A schedule-created run that has not started and is not due yet."""
    view = deployment_run(body)
    return (
        view.from_schedule
        and view.state_type is StateType.SCHEDULED
        and view.state_name in (SCHEDULED_NAME, AWAITING_SLOT_NAME)
        and view.scheduled_time is not None
        and view.scheduled_time > now
    )


def _rv(body: Mapping[str, Any]) -> str | None:
    return cast(str | None, body["metadata"].get("resourceVersion"))


def seconds_until(instant: datetime | None, now: datetime, ceiling: float) -> float:
    if instant is None:
        return ceiling
    return max(0.0, min(ceiling, (instant - now).total_seconds()))
