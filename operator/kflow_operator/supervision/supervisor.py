"""The supervisor of one FlowRun, started and fed by supervision/dispatcher.py.

It loops: read the freshest body it has, observe the run's infrastructure (when in this
operator's scope), ask decisions.lifecycle what to do, do it, sleep until woken (a watch event,
the infrastructure ending) or until the decision's deadline. All blocking work (launchers, the
Kubernetes client) runs in worker threads; the event loop only waits.

Carrying out an action is its effect (launch, stop, kill) and then what decisions/run_writes.py
says it writes and announces, at the resourceVersion the decision was made on: a run that moved
meanwhile (the flow process or a user changed it) is re-read and decided again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from kflow.resources import DeploymentSpec
from kflow.states import StateType

from kflow_operator import events
from kflow_operator.decisions import run_writes
from kflow_operator.decisions.actions import (
    Action,
    BeginCancel,
    CancelNow,
    Done,
    Finish,
    GiveUpStart,
    HoldForSlot,
    Kill,
    Launch,
    MarkCancelled,
    MarkCrashed,
    MarkFailed,
    MarkScheduled,
    ReplaceOthers,
    ReportScope,
    ReportStarted,
    ReportUnkillable,
    ReportWaiting,
    SendStop,
    Skip,
    Wait,
)
from kflow_operator.decisions.cancellation import grace_period
from kflow_operator.decisions.launch_plan import plan_launch
from kflow_operator.decisions.lifecycle import decide
from kflow_operator.decisions.run_finalizer import needs_supervision, with_finalizer
from kflow_operator.decisions.run_finalizer import without_finalizer as without
from kflow_operator.decisions.supervised_run import SupervisedRun, state_patch
from kflow_operator.infrastructure import Observation
from kflow_operator.kubeapi import Body
from kflow_operator.launchers.base import Launcher, LaunchError
from kflow_operator.metrics import run_records
from kflow_operator.notifications.planning import hold_for_notifications
from kflow_operator.object_index import FLOWRUN_STATUS_NOT_KEPT, is_newer, slim, version_of
from kflow_operator.operator_context import OperatorContext
from kflow_operator.scheduling.pool_gate import model_pool, pool_of, pool_view
from kflow_operator.scheduling.run_states import skip_run, write_run_state
from kflow_operator.supervision.finalizers import write_finalizers
from kflow_operator.supervision.launch_record import record_launch
from kflow_operator.supervision.notifier import Notifier
from kflow_operator.supervision.state_events import StateEvents
from kflow_operator.supervision.steps import Step
from kflow_operator.supervision.take_down import take_down
from kflow_operator.supervision.work_slots import WorkSlot
from kflow_operator.wakeups import StopFlag, doze

logger = logging.getLogger(__name__)

LINGERING_KILL_PAUSE_SECONDS = 1.0
"""After killing a process that outlived its run, before looking again."""


def now() -> datetime:
    return datetime.now(UTC)


class Supervisor:
    def __init__(self, context: OperatorContext, body: Body, slot: WorkSlot | None = None) -> None:
        """`slot`: the work slot the run was admitted with (supervision/dispatcher.py)."""
        self.context = context
        self._body = slim(body, FLOWRUN_STATUS_NOT_KEPT)
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        self.adopted: str | None = None
        self.state_events = StateEvents(body)
        self.active = True
        self.notifier = Notifier(self)
        self.slot = slot if slot is not None else WorkSlot(context.work_slots)
        self.crash: Observation | None = None
        """How the infrastructure ended, when this supervisor wrote CRASHED for it."""
        self.foreign = False
        """The run turned out to be of a pool another operator serves: left as it is."""

    @property
    def body(self) -> Body:
        return self._body

    @body.setter
    def body(self, body: Body) -> None:
        """Kept without what no decision reads (managedFields, task runs, result): in a burst,
        thousands of supervisors each held a whole run."""
        self._body = slim(body, FLOWRUN_STATUS_NOT_KEPT)

    # --- inputs -------------------------------------------------------------------------------

    def see(self, body: Body) -> None:
        """A watch event: taken unless older than what this supervisor has (its own write
        may have overtaken the event)."""
        if not is_newer(version_of(body), version_of(self.body)):
            return
        self.body = body
        self.wake.set()

    def wake_threadsafe(self) -> None:
        self.loop.call_soon_threadsafe(self.wake.set)

    async def refresh(self) -> bool:
        """Re-read the run; False when it no longer exists."""
        meta = self.body["metadata"]
        fresh = await asyncio.to_thread(
            self.context.api.get_flowrun, meta["namespace"], meta["name"]
        )
        if fresh is None:
            return False
        self.body = fresh
        return True

    # --- the loop -----------------------------------------------------------------------------

    async def run(self, stopped: StopFlag) -> bool:
        """Supervise until the operator is done with the run, it is deleted, or `stopped`;
        True when this took the run's infrastructure down (it was deleted)."""
        meta = self.body["metadata"]
        key = (meta["namespace"], meta["name"])
        self.context.run_wakers[key] = self.wake_threadsafe
        try:
            async with self.slot.held():
                await self._supervise(stopped)
            if self.foreign:
                return False
            run = SupervisedRun.from_body(self.body)
            if (stopped.deleted or run.deleting) and await self._served():
                # Finishes even when the operator stops meanwhile.
                await asyncio.shield(self.context.in_background(self._take_down(stopped.deleted)))
                return True
            if not stopped and not needs_supervision(self.body.get("status") or {}):
                await write_finalizers(self, without)
            return False
        finally:
            self.active = False
            if self.context.run_wakers.get(key) == self.wake_threadsafe:
                del self.context.run_wakers[key]

    async def _take_down(self, gone: bool) -> None:
        await take_down(self.context, SupervisedRun.from_body(self.body))
        if not gone:
            await write_finalizers(self, without)

    async def _supervise(self, stopped: StopFlag) -> None:
        while not stopped:
            run = SupervisedRun.from_body(self.body)
            if not await self._served():
                # Another pool's run (--work-pool): never touched nor announced.
                if run.deleting:
                    return
                if self.context.indexed_pool_of(self.body)[0]:
                    # Known to be another's (its Deployment is indexed): ends as if never
                    # made; the dispatcher looks at the run again when it changes.
                    self.foreign = True
                    return
                # Its Deployment is not there yet: it may turn out to be ours.
                await self._sleep(None, False, stopped)
                continue
            self.state_events.post(run, self.body)
            if run.deleting:
                return
            notifying = await self.notifier.turn(run)
            run = SupervisedRun.from_body(self.body)
            launcher = self._launcher(run)
            observation = await self._observe(run, launcher)
            action = hold_for_notifications(
                decide(
                    run,
                    observation,
                    launcher is not None,
                    now(),
                    self.context.settings.start_deadline_seconds,
                    self._own_scope(run),
                ),
                notifying,
            )
            if isinstance(action, Done):
                if launcher is not None and run.identifier is not None:
                    launcher.forget(run.identifier)
                return
            if isinstance(action, Wait):
                await self._sleep(action.until, launcher is not None, stopped)
                continue
            step = await self._do(action, run, launcher)
            if step is Step.FINISHED and not notifying.outstanding:
                return
            if step is Step.HELD:
                await self._sleep(None, False, stopped)
            if step is Step.REFUSED:
                await self.refresh()
            elif step is Step.MOVED and not await self.refresh():
                return

    async def _served(self) -> bool:
        """Whether the run's pool is one this operator serves (--work-pool)."""
        settings = self.context.settings
        if not settings.work_pools:
            return True
        pool = await asyncio.to_thread(pool_of, self.context.schedules, self.body)
        return settings.serves_pool(pool)

    def _launcher(self, run: SupervisedRun) -> Launcher | None:
        identifier = run.identifier
        return None if identifier is None else self.context.launcher_for(identifier)

    def _own_scope(self, run: SupervisedRun) -> str | None:
        found = self.context.launchers.get(run.identifier.type) if run.identifier else None
        return found.scope if found is not None else None

    async def _observe(self, run: SupervisedRun, launcher: Launcher | None) -> Observation | None:
        identifier = run.identifier
        if launcher is None or identifier is None:
            return None
        if self.adopted != identifier.pid:
            await asyncio.to_thread(launcher.adopt, identifier, self.wake_threadsafe)
            self.adopted = identifier.pid
        return await asyncio.to_thread(launcher.observe, identifier)

    async def _sleep(self, until: datetime | None, watching: bool, stopped: StopFlag) -> None:
        settings = self.context.settings
        timeout = settings.poll_seconds if watching else settings.idle_poll_seconds
        if until is not None:
            timeout = min(timeout, max(0.0, (until - now()).total_seconds()))
        async with self.slot.released():
            await doze(self.wake, stopped, timeout)

    # --- actions ------------------------------------------------------------------------------

    async def _do(self, action: Action, run: SupervisedRun, launcher: Launcher | None) -> Step:
        """Carry out one action: its effect, then its write."""
        t = now()
        match action:
            case Wait() | Done():
                return Step.CARRIED_OUT
            case MarkScheduled():
                return await self._write(run, run_writes.scheduled(action), t)
            case Launch():
                return await self._launch(run, t)
            case MarkCrashed(observation=observation):
                step = await self._write(run, run_writes.crashed(action), t)
                if step is Step.CARRIED_OUT:
                    self.crash = observation  # counted once, with the run's end (Finish)
                return step
            case MarkFailed(reason=reason, message=message):
                step = await self._write(run, run_writes.failed(action, run, t), t)
                if step is not Step.MOVED:
                    logger.info(
                        "FlowRun %s/%s failed: %s (%s)", run.namespace, run.name, message, reason
                    )
                return step
            case ReportWaiting():
                return await self._write(run, run_writes.waiting(run, action, t), t)
            case ReportStarted():
                return await self._write(run, run_writes.started(run, t), t)
            case GiveUpStart():
                return await self._write(run, run_writes.gave_up(run, action, t), t)
            case CancelNow(unenforceable=unenforceable):
                step = await self._write(run, run_writes.cancelled_now(run, action, t), t)
                if step is Step.CARRIED_OUT and unenforceable:
                    run_records.cancel_unenforced("NoInfrastructureIdentifier")
                return step
            case BeginCancel():
                grace = grace_period(
                    run.spec,
                    await self._deployment_spec(run),
                    default=self.context.settings.default_grace_period_seconds,
                )
                return await self._write(run, run_writes.cancelling(t, grace), t)
            case SendStop():
                assert launcher is not None and run.identifier is not None
                grace = run_writes.stop_grace_seconds(run)
                await asyncio.to_thread(launcher.stop, run.identifier, grace)
                return await self._write(run, run_writes.stop_sent(run, t), t)
            case Kill(lingering=lingering):
                assert launcher is not None and run.identifier is not None
                await asyncio.to_thread(launcher.kill, run.identifier)
                step = await self._write(run, run_writes.killed(run, action, t), t)
                if step is Step.CARRIED_OUT and not lingering:
                    run_records.killed_after_grace(self.body)
                if lingering:
                    await asyncio.sleep(LINGERING_KILL_PAUSE_SECONDS)
                return step
            case ReportScope():
                return await self._write(run, run_writes.scope(run, action, t), t)
            case MarkCancelled():
                return await self._write(run, run_writes.cancelled(action, t), t)
            case ReportUnkillable():
                step = await self._write(run, run_writes.unkillable(run, t), t)
                if step is Step.CARRIED_OUT:
                    run_records.cancel_unenforced("KillFailed")
                return step
            case Finish():
                step = await self._write(run, run_writes.finished(run, action, t), t)
                if step is not Step.CARRIED_OUT:
                    return step
                run_records.finished(self.body, self.crash or action.observation)
                if launcher is not None and run.identifier is not None:
                    launcher.forget(run.identifier)
                return Step.FINISHED
            case HoldForSlot(message=message, body=decided_on, state_name=held):
                state = run.status.state
                if state is not None and (state.name, state.message) == (held, message):
                    return Step.HELD
                # Through the scheduling store: the Deployment's next decisions see it at once.
                await asyncio.to_thread(
                    write_run_state,
                    self.context.schedules,
                    decided_on,
                    StateType.SCHEDULED,
                    held,
                    message,
                    t,
                )
                # A slot that freed while this hold was in flight woke nobody for it: the
                # Deployment's pass looks again, with the hold in view, and releases it if so.
                self._wake_deployment(run)
                return Step.MOVED
            case Skip(message=message, body=decided_on):
                await asyncio.to_thread(skip_run, self.context.schedules, decided_on, message, t)
                return Step.MOVED
            case ReplaceOthers():
                await self._replace_others(run, action)
                return Step.CARRIED_OUT

    async def _launch(self, run: SupervisedRun, t: datetime) -> Step:
        deployment = await self._deployment_spec(run)
        # May list the Deployment's runs (blocking while the index's first listing is not in).
        admitted = await asyncio.to_thread(self.context.admission, run, deployment, t)
        if isinstance(admitted, ReplaceOthers):
            await self._replace_others(run, admitted)
        elif admitted is not None:
            return await self._do(admitted, run, None)
        schedules = self.context.schedules
        pool = await asyncio.to_thread(
            pool_view, schedules, run.namespace, model_pool(run.spec, deployment)
        )
        plan = plan_launch(
            run, deployment, default_image=self.context.settings.default_image, pool=pool
        )
        if isinstance(plan, MarkFailed):
            return await self._do(plan, run, None)
        kind = plan.infrastructure.type.value
        launcher = self.context.launchers.get(kind)
        if launcher is None:
            return await self._do(run_writes.no_launcher(kind, self.context.launchers), run, None)
        if with_finalizer(self.body) is not None:
            # At the version decided on: the run with the finalizer is the run decided on.
            if not await write_finalizers(self, with_finalizer, run.resource_version):
                return Step.MOVED
            run = SupervisedRun.from_body(self.body)
        try:
            launched = await asyncio.to_thread(launcher.launch, plan)
        except LaunchError as error:
            failure = MarkFailed(error.reason, str(error), error.infrastructure)
            return await self._do(failure, run, None)
        return await record_launch(self, run, launcher, launched, plan.attempt, t)

    def _wake_deployment(self, run: SupervisedRun) -> None:
        ref = run.spec.deployment_ref
        waker = self.context.deployment_wakers.get((run.namespace, ref.name)) if ref else None
        if waker is not None:
            waker.wake_threadsafe()

    async def _replace_others(self, run: SupervisedRun, replace: ReplaceOthers) -> None:
        schedules = self.context.schedules
        for other in replace.runs:
            await asyncio.to_thread(schedules.request_cancel, run.namespace, other)
        for event in replace.events:
            events.post(event, self.body)

    # --- writing ------------------------------------------------------------------------------

    async def _write(self, run: SupervisedRun, write: run_writes.RunWrite, t: datetime) -> Step:
        """Post the write's Events, then merge-patch the status at the run's resourceVersion;
        a new state only if kflow.transitions accepts it."""
        for event in write.events:
            events.post(event, self.body)
        patch: dict[str, Any] = {}
        if write.state is not None:
            state = write.state
            moved = state_patch(run, state.type, state.name, state.message, t)
            if moved is None:
                return Step.REFUSED
            patch.update(moved)
        patch.update(write.fields)
        if not patch:
            return Step.CARRIED_OUT
        written = await asyncio.to_thread(
            self.context.api.patch_flowrun_status,
            run.namespace,
            run.name,
            {**patch, "observedGeneration": run.generation},
            run.resource_version,
        )
        if written is None:
            return Step.MOVED
        self.body = written
        self.state_events.post(SupervisedRun.from_body(written), written)
        if write.finishes:
            run_records.finished(written, None)
            return Step.FINISHED
        return Step.CARRIED_OUT

    async def _deployment_spec(self, run: SupervisedRun) -> DeploymentSpec | None:
        ref = run.spec.deployment_ref
        if ref is None:
            return None
        body = self.context.indexed_deployment(run.namespace, ref.name)
        if body is None:
            body = await asyncio.to_thread(self.context.api.get_deployment, run.namespace, ref.name)
        return None if body is None else DeploymentSpec.model_validate(body.get("spec") or {})
