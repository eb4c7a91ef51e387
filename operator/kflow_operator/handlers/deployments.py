"""Kopf handlers for Deployments: one scheduling daemon per Deployment, and the launch gate.

The daemon runs a scheduling pass (kflow_operator.scheduler) and then sleeps until the next
fire time or the next deadline of a waiting run — not a coarse poll — or until woken early by a
spec change or by one of the Deployment's runs changing state type (a slot frees, a run ends
and history may be pruned). Starting a due run is the FlowRun supervisor's job
(handlers/flowruns.py); right before it launches one, it asks `admit_launch` — installed as
`Runtime.admission` at start-up — which applies catch-up, the starting deadline, the
Deployment's pause and its concurrency policy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import kopf
from kflow.resources import (
    DEPLOYMENT_PLURAL,
    FLOWRUN_PLURAL,
    GROUP,
    VERSION,
    DeploymentSpec,
)
from kflow.states import StateType

from kflow_operator import events
from kflow_operator.decisions.actions import Action
from kflow_operator.decisions.catchup import deadline_of, is_missed
from kflow_operator.decisions.concurrency import Verdict, decide_run
from kflow_operator.decisions.run import RunView as SupervisedRun
from kflow_operator.decisions.runs import AWAITING_SLOT_NAME, ConcurrencyPolicy, RunView
from kflow_operator.informers import apply_change
from kflow_operator.kube import Conflict
from kflow_operator.kubeapi.list_watch import Change
from kflow_operator.scheduler import (
    Event,
    ScheduleApi,
    is_schedule_run_name,
    replaced_event,
    run_policy,
    run_view,
    scheduling_pass,
    seconds_until,
    skip_run,
    write_run_state,
)

T = TypeVar("T")
DEPLOYMENTS = (GROUP, VERSION, DEPLOYMENT_PLURAL)
FLOWRUNS = (GROUP, VERSION, FLOWRUN_PLURAL)

IDLE_SECONDS = 300.0
"""With nothing scheduled, a Deployment is looked at again after this long anyway."""
RETRY_SECONDS = 2.0
"""After a failed pass (API unavailable), the next try."""
OVERSLEEP = timedelta(milliseconds=5)
"""Timers may fire a hair early; waking just after a fire time means one pass, not two."""

logger = logging.getLogger(__name__)
_api = ScheduleApi()
"""Given the operator's indexes at start-up (install_indexes); bare, it asks the server."""

PASS_THREADS = 8
_pool = ThreadPoolExecutor(max_workers=PASS_THREADS, thread_name_prefix="kflow-schedule")
"""Scheduling passes get their own threads: a minute boundary with hundreds of Deployments
must not queue the launches (asyncio.to_thread's default pool) behind them."""


async def _in_pool(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_pool, partial(function, *args))


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Worker:
    """What the watch handlers need to wake one Deployment's daemon."""

    loop: asyncio.AbstractEventLoop
    generation: int | None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    run_states: dict[str, str] = field(default_factory=dict)

    async def sleep(self, seconds: float, stopped: kopf.DaemonStopped) -> None:
        if self.wake.is_set():
            self.wake.clear()
            return
        woken = asyncio.ensure_future(self.wake.wait())
        stopping = asyncio.ensure_future(stopped.wait())
        _, pending = await asyncio.wait(
            {woken, stopping}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        self.wake.clear()


_workers: dict[tuple[str, str], _Worker] = {}


@kopf.on.startup()
def install_launch_gate(memo: kopf.Memo, **_: Any) -> None:
    runtime = memo.get("runtime")
    if runtime is not None:
        runtime.admission = admit_launch
        informers = runtime.start_informers()
        _api.runs = informers.flowruns
        _api.deployments = informers.deployments


@kopf.daemon(*DEPLOYMENTS, cancellation_timeout=10.0, backoff=RETRY_SECONDS)
async def schedule_deployment(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    worker = _Worker(asyncio.get_running_loop(), body["metadata"].get("generation"))
    _workers[(namespace, name)] = worker
    try:
        while not stopped:
            try:
                deployment = await _in_pool(_api.get_deployment, namespace, name)
                if deployment is None or deployment["metadata"].get("deletionTimestamp"):
                    return
                worker.generation = deployment["metadata"].get("generation")
                result = await _in_pool(scheduling_pass, _api, deployment, now())
            except Exception:
                logger.exception("Scheduling pass for Deployment %s/%s failed", namespace, name)
                await worker.sleep(RETRY_SECONDS, stopped)
                continue
            for event in result.events:
                _post(event, deployment)
            if result.created or result.deleted:
                logger.info(
                    "Deployment %s/%s: created %s, deleted %s",
                    namespace,
                    name,
                    result.created,
                    result.deleted,
                )
            wake_at = None if result.wake_at is None else result.wake_at + OVERSLEEP
            await worker.sleep(seconds_until(wake_at, now(), IDLE_SECONDS), stopped)
    finally:
        if _workers.get((namespace, name)) is worker:
            del _workers[(namespace, name)]


@kopf.on.event(*DEPLOYMENTS)
async def deployment_changed(body: kopf.Body, type: str | None, **_: Any) -> None:
    """A spec change (new generation) or deletion wakes the daemon; status writes do not.

    Kopf's watch and the index's are separate streams: Kopf's news goes into the index too, so
    a daemon woken here never reads an older spec than the one that woke it.
    """
    meta = body["metadata"]
    _remember(body, type)
    worker = _workers.get((meta["namespace"], meta["name"]))
    if worker is None:
        return
    if (
        type == "DELETED"
        or meta.get("deletionTimestamp")
        or meta.get("generation") != worker.generation
    ):
        worker.loop.call_soon_threadsafe(worker.wake.set)


@kopf.on.event(*FLOWRUNS)
async def flowrun_changed_for_schedule(body: kopf.Body, type: str | None, **_: Any) -> None:
    """Wake the run's Deployment when the run changes state type or disappears."""
    meta = body["metadata"]
    _remember(body, type, runs=True)
    ref = ((body.get("spec") or {}).get("deploymentRef") or {}).get("name")
    if not ref:
        return
    namespace, name = meta["namespace"], meta["name"]
    worker = _workers.get((namespace, ref))
    if worker is None:
        return
    state = ((body.get("status") or {}).get("state") or {}).get("type", "")
    if type == "DELETED":
        worker.run_states.pop(name, None)
        worker.wake.set()
    elif worker.run_states.get(name) != state:
        worker.run_states[name] = state
        worker.wake.set()


def _remember(body: kopf.Body, type: str | None, runs: bool = False) -> None:
    index = _api.runs if runs else _api.deployments
    if index is not None:
        apply_change(index, Change(type or "MODIFIED", dict(body)))


def _post(event: Event, default: dict[str, Any]) -> None:
    post = events.warning if event.type == "Warning" else events.normal
    post(event.about if event.about is not None else default, event.reason, event.message)


# --- the launch gate ---------------------------------------------------------------------


def admit_launch(
    run: SupervisedRun, deployment: DeploymentSpec | None, at: datetime
) -> Action | None:
    """Runtime.admission: None lets the due run launch now.

    When it must not launch, this writes what happens instead — SCHEDULED
    `AwaitingConcurrencySlot`, or `Late` then CANCELLED `Skipped` — at the resourceVersion
    read, and raises Conflict so the supervisor re-reads the run and sees it held or finished.
    Replace cancels the runs it replaces (spec.cancel) before admitting.

    Runs of an Allow Deployment without a limit are decided without looking at any other run;
    the others read the Deployment's runs from the operator's index (blocking while its first
    listing is not in: the supervisor calls this from a worker thread).
    """
    ref = run.spec.deployment_ref
    if ref is None or deployment is None:
        return None
    policy = run_policy(deployment)
    scheduled_time = run.spec.scheduled_time
    from_schedule = is_schedule_run_name(run.name, ref.name, scheduled_time)
    if (
        policy.concurrency_policy is ConcurrencyPolicy.ALLOW
        and policy.concurrency_limit is None
        and (not from_schedule or _on_time(run, from_schedule, deployment, at))
    ):
        return None

    runs = _api.list_runs(run.namespace, ref.name)
    bodies = {b["metadata"]["name"]: b for b in runs}
    own = bodies.get(run.name) or _api.get_run(run.namespace, run.name)
    if own is None:
        return None
    bodies[run.name] = own
    views = [run_view(b) for b in bodies.values()]
    decision = decide_run(run.name, views, policy, at)
    if decision.verdict is Verdict.START:
        for other in decision.cancel:
            _api.request_cancel(run.namespace, other)
            if other in bodies:
                _post(replaced_event(bodies[other], run.name), bodies[other])
        return None
    if decision.verdict is Verdict.WAIT:
        write_run_state(_api, own, StateType.SCHEDULED, AWAITING_SLOT_NAME, decision.message, at)
        raise Conflict(f"FlowRun {run.namespace}/{run.name} waits for a concurrency slot")
    if decision.verdict is Verdict.SKIP:
        skip_run(_api, own, decision.message, at)
        raise Conflict(f"FlowRun {run.namespace}/{run.name} was skipped: {decision.message}")
    return None


def _on_time(run: SupervisedRun, from_schedule: bool, spec: DeploymentSpec, at: datetime) -> bool:
    """Whether a scheduled run may start without looking at its siblings."""
    if spec.paused:
        return False
    due = run.spec.scheduled_time or at
    view = RunView(
        name=run.name,
        state_type=run.state_type or StateType.SCHEDULED,
        state_name=run.status.state.name if run.status.state else "Scheduled",
        created=due,
        scheduled_time=due,
        from_schedule=from_schedule,
    )
    policy = run_policy(spec)
    deadline = deadline_of(view, policy)
    return not is_missed(view, policy, at) and (deadline is None or at <= deadline)
