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

import hashlib
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from kflow.cluster.kube import new_api_client
from kflow.resources import (
    API_VERSION,
    DEPLOYMENT_PLURAL,
    FLOWRUN_KIND,
    FLOWRUN_PLURAL,
    GROUP,
    VERSION,
    DeploymentSpec,
    format_timestamp,
    parse_timestamp,
)
from kflow.resources.status_patch import StateEntry, patch_to_state
from kflow.states import StateType
from kubernetes.client import CustomObjectsApi, V1DeleteOptions, V1Preconditions
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from kflow_operator.decisions.catchup import missed_fire_times_to_create
from kflow_operator.decisions.concurrency import Verdict, plan_due_runs
from kflow_operator.decisions.history import runs_to_delete
from kflow_operator.decisions.runs import (
    AWAITING_SLOT_NAME,
    LATE_NAME,
    SCHEDULED_NAME,
    SKIPPED_NAME,
    RunPolicy,
    RunView,
)
from kflow_operator.decisions.schedules import (
    Schedule,
    ScheduleError,
    describe_schedules,
    fire_times_in_window,
    latest_fire_time,
    next_fire_time,
    parse_schedules,
    run_name_prefix,
    scheduled_run_name,
    upcoming_fire_times,
)
from kflow_operator.object_index import ObjectIndex

Body = dict[str, Any]
logger = logging.getLogger(__name__)

DEPLOYMENT_LABEL = f"{GROUP}/deployment"
"""On every FlowRun a schedule creates, for `kubectl get fr -l`; the operator itself finds a
Deployment's runs by spec.deploymentRef, labelled or not."""
SCHEDULED_LABEL = f"{GROUP}/scheduled"
"""`"true"` on runs a schedule created (catch-up and deadlines apply to those only)."""
SCHEDULE_TIME_ANNOTATION = f"{GROUP}/scheduled-time"

INDEX_READY_SECONDS = 60.0
"""How long a pass waits for the operator's first listing of FlowRuns and Deployments."""


class IndexNotReady(Exception):
    """The first listing is not in: deciding on a partial picture could start a run twice."""


READY = "Ready"
SCHEDULING = "Scheduling"

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def deployment_label_value(deployment_name: str) -> str:
    """Deployment names may be 253 characters, label values only 63: long ones get a hash."""
    if len(deployment_name) <= 63 and _LABEL_VALUE.match(deployment_name):
        return deployment_name
    digest = hashlib.sha256(deployment_name.encode()).hexdigest()[:8]
    return f"{deployment_name[:54].rstrip('-_.')}-{digest}"


def is_schedule_run_name(run_name: str, deployment_name: str, scheduled: datetime | None) -> bool:
    """Whether a run's name is the one a schedule gives (for callers that lack its labels)."""
    if scheduled is None:
        return False
    stem = scheduled_run_name(deployment_name, "", scheduled).rsplit("-", 1)[0]
    return bool(re.fullmatch(re.escape(stem) + r"-[0-9a-f]{8}", run_name)) and run_name.startswith(
        run_name_prefix(deployment_name)
    )


# --- reading ---------------------------------------------------------------------------


def run_view(body: Mapping[str, Any]) -> RunView:
    meta = body["metadata"]
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    state = status.get("state") or {}
    scheduled = spec.get("scheduledTime")
    ended = status.get("endTime")
    return RunView(
        name=meta["name"],
        state_type=StateType(state.get("type", StateType.SCHEDULED.value)),
        state_name=state.get("name", SCHEDULED_NAME),
        created=parse_timestamp(meta["creationTimestamp"]),
        scheduled_time=parse_timestamp(scheduled) if scheduled else None,
        from_schedule=(meta.get("labels") or {}).get(SCHEDULED_LABEL) == "true",
        cancel_requested=bool(spec.get("cancel")),
        end_time=parse_timestamp(ended) if ended else None,
    )


def run_policy(spec: DeploymentSpec) -> RunPolicy:
    return RunPolicy(
        catchup=spec.catchup,
        catchup_limit=spec.catchup_limit,
        starting_deadline_seconds=spec.starting_deadline_seconds,
        concurrency_policy=spec.concurrency_policy,
        concurrency_limit=spec.concurrency_limit,
        paused=spec.paused,
    )


# --- the API ---------------------------------------------------------------------------


class ScheduleApi:
    """The calls a scheduling pass makes; one client per worker thread.

    With indexes (the operator's informers), reads come from memory and every write's result
    goes into them at once, so the next decision sees it even before the watch does.
    """

    def __init__(
        self, runs: ObjectIndex | None = None, deployments: ObjectIndex | None = None
    ) -> None:
        self._local = threading.local()
        self.runs = runs
        self.deployments = deployments

    def _objects(self) -> CustomObjectsApi:
        api = getattr(self._local, "objects", None)
        if api is None:
            api = CustomObjectsApi(new_api_client())
            self._local.objects = api
        return cast(CustomObjectsApi, api)

    def _ready(self, index: ObjectIndex | None) -> ObjectIndex | None:
        if index is None:
            return None
        if not index.wait_ready(INDEX_READY_SECONDS):
            raise IndexNotReady("the operator's list of FlowRuns and Deployments is not in yet")
        return index

    def get_deployment(self, namespace: str, name: str) -> Body | None:
        index = self._ready(self.deployments)
        if index is not None:
            found = index.get(namespace, name)
            if found is not None:
                return found
        # Not (yet) in the picture: ask the server, which has the last word on absence.
        body = self._get(namespace, DEPLOYMENT_PLURAL, name)
        if body is not None and index is not None:
            index.put(body)
        return body

    def get_run(self, namespace: str, name: str) -> Body | None:
        index = self._ready(self.runs)
        found = index.get(namespace, name) if index is not None else None
        return found if found is not None else self._get(namespace, FLOWRUN_PLURAL, name)

    def _get(self, namespace: str, plural: str, name: str) -> Body | None:
        try:
            return cast(
                Body,
                self._objects().get_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name
                ),
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list_runs(self, namespace: str, deployment_name: str) -> list[Body]:
        """The Deployment's runs: every FlowRun whose spec.deploymentRef names it. Read-only."""
        index = self._ready(self.runs)
        if index is not None:
            return index.group(namespace, deployment_name)
        result = self._objects().list_namespaced_custom_object(
            GROUP, VERSION, namespace, FLOWRUN_PLURAL
        )
        items = cast(list[Body], cast(Body, result).get("items") or [])
        return [
            run
            for run in items
            if ((run.get("spec") or {}).get("deploymentRef") or {}).get("name") == deployment_name
        ]

    def _remember(self, body: Body | None) -> None:
        if body is not None and self.runs is not None:
            self.runs.put(body)

    def create_run(self, namespace: str, body: Body) -> bool:
        """True when created; False when it already exists (another pass made it)."""
        try:
            created = self._objects().create_namespaced_custom_object(
                GROUP, VERSION, namespace, FLOWRUN_PLURAL, body
            )
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        self._remember(cast(Body, created))
        return True

    def delete_run(self, namespace: str, name: str, resource_version: str | None) -> bool:
        options = V1DeleteOptions(
            propagation_policy="Background",
            preconditions=V1Preconditions(resource_version=resource_version),
        )
        try:
            self._objects().delete_namespaced_custom_object(
                GROUP, VERSION, namespace, FLOWRUN_PLURAL, name, body=options
            )
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        if self.runs is not None:
            # Gone from decisions now; a finalizer may keep it a while, and the watch says so.
            self.runs.drop(namespace, name, resource_version)
        return True

    def patch_run_status(
        self, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> Body | None:
        """Merge-patch a run's status at `resource_version`; None when it moved meanwhile."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": dict(status)}
        try:
            written = cast(
                Body,
                self._objects().patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, FLOWRUN_PLURAL, name, body
                ),
            )
        except ApiException as error:
            if error.status in (404, 409):
                return None
            raise
        self._remember(written)
        return written

    def request_cancel(self, namespace: str, name: str) -> None:
        try:
            patched = self._objects().patch_namespaced_custom_object(
                GROUP, VERSION, namespace, FLOWRUN_PLURAL, name, {"spec": {"cancel": True}}
            )
        except ApiException as error:
            if error.status != 404:
                raise
            return
        self._remember(cast(Body, patched))

    def patch_deployment_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        try:
            patched = self._objects().patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, DEPLOYMENT_PLURAL, name, {"status": dict(status)}
            )
        except ApiException as error:
            if error.status != 404:
                raise
            return
        if self.deployments is not None:
            self.deployments.put(cast(Body, patched))


# --- run state writes ------------------------------------------------------------------


def write_run_state(
    api: ScheduleApi,
    body: Mapping[str, Any],
    state_type: StateType,
    name: str,
    message: str,
    now: datetime,
) -> Body | None:
    """Move a run to a state through kflow.transitions, at the resourceVersion read; the patch
    is kflow.resources.status_patch's, the builder every state writer uses.

    None when the transition is refused or the run moved meanwhile (decide again later).
    """
    meta = body["metadata"]
    patch = patch_to_state(body.get("status") or {}, StateEntry(state_type, name, message, now))
    if patch is None:
        return None
    return api.patch_run_status(meta["namespace"], meta["name"], patch, meta["resourceVersion"])


def skip_run(api: ScheduleApi, body: Mapping[str, Any], message: str, now: datetime) -> bool:
    """`Late` then `Skipped` (CANCELLED): a run that must not start ends visibly."""
    state = (body.get("status") or {}).get("state") or {}
    if state.get("name") != LATE_NAME:
        late = write_run_state(api, body, StateType.SCHEDULED, LATE_NAME, f"Late: {message}", now)
        if late is None:
            return False
        body = late
    skipped = write_run_state(
        api, body, StateType.CANCELLED, SKIPPED_NAME, f"Skipped: {message}", now
    )
    return skipped is not None


# --- the pass --------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str
    about: Mapping[str, Any] | None = None  # the object it is posted on; None: the Deployment


def replaced_event(replaced: Mapping[str, Any], by: str) -> Event:
    return Event(
        "Normal",
        "Replaced",
        f"concurrencyPolicy=Replace: cancelled to make room for the newer run {by}",
        replaced,
    )


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
        _write_status(
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
    views = {run_name: run_view(body) for run_name, body in bodies.items()}
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
    for run_name, decision in plan.decisions.items():
        found = bodies.get(run_name)
        if found is None:
            continue
        body, view = found, views[run_name]
        if decision.verdict is Verdict.SKIP:
            skip_run(api, body, decision.message, now)
        elif decision.verdict is Verdict.WAIT and view.state_name != AWAITING_SLOT_NAME:
            write_run_state(
                api, body, StateType.SCHEDULED, AWAITING_SLOT_NAME, decision.message, now
            )
        elif decision.verdict is Verdict.START and view.state_name == AWAITING_SLOT_NAME:
            write_run_state(
                api,
                body,
                StateType.SCHEDULED,
                SCHEDULED_NAME,
                "A concurrency slot is free; starting in scheduled order.",
                now,
            )
    starting = [n for n, d in plan.decisions.items() if d.verdict is Verdict.START]
    for run_name in plan.cancel:
        if not views[run_name].cancel_requested:
            api.request_cancel(namespace, run_name)
            result.events.append(replaced_event(bodies[run_name], ", ".join(starting)))

    for run_name in runs_to_delete(
        list(views.values()), spec.successful_runs_history_limit, spec.failed_runs_history_limit
    ):
        if api.delete_run(namespace, run_name, _rv(bodies[run_name])):
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
        **_last_success(views.values(), status),
    }
    if spec.paused:
        state = (True, "Paused", "spec.paused is true: no new runs are scheduled.")
    elif not schedules:
        state = (True, "NoSchedules", "No active schedules; runs start only when requested.")
    else:
        state = (True, "Scheduled", f"{len(wanted)} upcoming runs created ahead.")
    _write_status(api, deployment, now, fields, ready=(True, state[1], state[2]), scheduling=state)

    # A run created ahead is started by its own supervisor at its time; the pass that follows
    # only tops up the runs ahead, so it yields the fire instant to the launches.
    top_up = None
    if upcoming is not None:
        top_up = upcoming + (TOP_UP_LAG if spec.upcoming_runs > 0 else timedelta(0))
    wake_candidates = [t for t in (top_up, plan.recheck_at) if t is not None]
    result.wake_at = min(wake_candidates, default=None)
    return result


def scheduled_run_body(deployment: Mapping[str, Any], instant: datetime) -> Body:
    meta = deployment["metadata"]
    name = meta["name"]
    return {
        "apiVersion": API_VERSION,
        "kind": FLOWRUN_KIND,
        "metadata": {
            "name": scheduled_run_name(name, meta["uid"], instant),
            "namespace": meta["namespace"],
            "labels": {
                DEPLOYMENT_LABEL: deployment_label_value(name),
                SCHEDULED_LABEL: "true",
            },
            "annotations": {SCHEDULE_TIME_ANNOTATION: format_timestamp(instant)},
            "ownerReferences": [
                {
                    "apiVersion": deployment.get("apiVersion", API_VERSION),
                    "kind": deployment.get("kind", "Deployment"),
                    "name": name,
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": {"deploymentRef": {"name": name}, "scheduledTime": format_timestamp(instant)},
    }


TOP_UP_LAG = timedelta(milliseconds=500)
"""How long after a fire time the pass that creates the next run ahead waits."""

MISSED_RUNS_EXAMINED = 1000
"""After downtime, at most this many of the most recent missed fire times are looked at."""


def _create_missed_runs(
    api: ScheduleApi,
    deployment: Body,
    schedules: Sequence[Schedule],
    policy: RunPolicy,
    views: dict[str, RunView],
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
        views[body["metadata"]["name"]] = run_view({**body, "metadata": stamped})
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
    view = run_view(body)
    return (
        view.from_schedule
        and view.state_type is StateType.SCHEDULED
        and view.state_name in (SCHEDULED_NAME, AWAITING_SLOT_NAME)
        and view.scheduled_time is not None
        and view.scheduled_time > now
    )


def _last_success(views: Any, status: Mapping[str, Any]) -> dict[str, Any]:
    completed = [v for v in views if v.state_type is StateType.COMPLETED and v.end_time]
    if not completed:
        return {}
    newest = max(completed, key=lambda v: v.end_time)
    previous = status.get("lastSuccessfulTime")
    if previous and parse_timestamp(previous) >= newest.end_time:
        return {}
    return {
        "lastSuccessfulRun": newest.name,
        "lastSuccessfulTime": format_timestamp(newest.end_time),
    }


def _rv(body: Mapping[str, Any]) -> str | None:
    return cast(str | None, body["metadata"].get("resourceVersion"))


def _write_status(
    api: ScheduleApi,
    deployment: Mapping[str, Any],
    now: datetime,
    fields: Mapping[str, Any],
    ready: tuple[bool, str, str],
    scheduling: tuple[bool, str, str],
) -> None:
    meta = deployment["metadata"]
    status = deployment.get("status") or {}
    generation = meta.get("generation")
    conditions = _conditions(
        status.get("conditions") or [],
        generation,
        now,
        {
            READY: ready,
            SCHEDULING: scheduling,
        },
    )
    wanted = {**fields, "observedGeneration": generation, "conditions": conditions}
    if all(status.get(key) == value for key, value in wanted.items()):
        return
    api.patch_deployment_status(meta["namespace"], meta["name"], wanted)


def _conditions(
    existing: Sequence[Mapping[str, Any]],
    generation: int | None,
    now: datetime,
    wanted: Mapping[str, tuple[bool, str, str]],
) -> list[dict[str, Any]]:
    """Kubernetes-style conditions; lastTransitionTime moves only when the status does."""
    by_type = {c["type"]: dict(c) for c in existing}
    for kind, (flag, reason, message) in wanted.items():
        status = "True" if flag else "False"
        old = by_type.get(kind)
        changed = old is None or old.get("status") != status
        by_type[kind] = {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": format_timestamp(now) if changed else old["lastTransitionTime"],  # type: ignore[index]
            "observedGeneration": generation,
        }
    return [by_type[kind] for kind in sorted(by_type)]


def seconds_until(instant: datetime | None, now: datetime, ceiling: float) -> float:
    if instant is None:
        return ceiling
    return max(0.0, min(ceiling, (instant - now).total_seconds()))


__all__ = [
    "DEPLOYMENT_LABEL",
    "SCHEDULED_LABEL",
    "Event",
    "PassResult",
    "ScheduleApi",
    "deployment_label_value",
    "is_schedule_run_name",
    "replaced_event",
    "run_policy",
    "run_view",
    "scheduled_run_body",
    "scheduling_pass",
    "seconds_until",
    "skip_run",
    "write_run_state",
]
