"""Kopf handlers for FlowRuns: one supervising daemon per run that still needs the operator.

The daemon loops: read the freshest body it has, observe the run's infrastructure (when in this
operator's scope), ask decisions.lifecycle what to do, do it, sleep until woken (a watch event,
the infrastructure ending) or until the decision's deadline. All blocking work (launchers, the
Kubernetes client) runs in worker threads; the event loop only waits.

Writes carry the resourceVersion the decision was made on. A conflict means someone (the flow
process, a user, Kopf) changed the run meanwhile: re-read and decide again, so no decision is
ever applied to a run it was not made for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from kflow.resources import (
    FLOWRUN_PLURAL,
    GROUP,
    VERSION,
    DeploymentSpec,
    StateHistoryEntry,
    format_timestamp,
)
from kflow.states import TERMINAL_STATE_TYPES, StateType

from kflow_operator import events
from kflow_operator.decisions.actions import (
    Action,
    BeginCancel,
    CancelNow,
    Done,
    Finish,
    Kill,
    Launch,
    MarkCancelled,
    MarkCrashed,
    MarkFailed,
    MarkScheduled,
    ReportUnkillable,
    SendStop,
    Wait,
)
from kflow_operator.decisions.cancellation import grace_period
from kflow_operator.decisions.launch_plan import plan_launch
from kflow_operator.decisions.lifecycle import decide
from kflow_operator.decisions.run import (
    CANCEL_FAILED,
    FINISHED,
    LAUNCHED,
    RunView,
    conditions_patch,
    state_patch,
)
from kflow_operator.decisions.runs import SCHEDULED_NAME
from kflow_operator.infrastructure import Launched, Observation
from kflow_operator.kube import Body, Conflict
from kflow_operator.launchers.base import Launcher, LaunchError
from kflow_operator.runtime import Runtime

RESOURCE = (GROUP, VERSION, FLOWRUN_PLURAL)
BLOCKING_THREADS = 64
"""Threads for the blocking calls of every supervisor (asyncio.to_thread). Mostly they wait on
the API server; with asyncio's default (CPUs + 4) a burst of slow status writes left launches,
each a few quick hops, queued behind them for seconds."""
DELETION_GRACE_SECONDS = 10
"""A deleted run's process gets this long after SIGTERM before SIGKILL."""

logger = logging.getLogger(__name__)
_BACKGROUND: set[asyncio.Task[None]] = set()


def now() -> datetime:
    return datetime.now(UTC)


def needs_supervision(status: Mapping[str, Any], **_: Any) -> bool:
    """Kopf filter: every run except terminal ones the operator has finished with."""
    state = (status.get("state") or {}).get("type")
    if state not in {t.value for t in TERMINAL_STATE_TYPES}:
        return True
    return not any(
        c.get("type") == FINISHED and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


@kopf.on.startup()
async def widen_thread_pool(**_: Any) -> None:
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=BLOCKING_THREADS, thread_name_prefix="kflow-io")
    )


@kopf.daemon(
    *RESOURCE,
    when=needs_supervision,
    # Kopf re-checks a stopping daemon only after this backoff (its exit does not wake it), so
    # keep it short; a deleted run's stop-then-kill is shielded from the cancellation.
    cancellation_backoff=0.5,
    cancellation_timeout=5,
    backoff=1.0,
)
async def supervise_flowrun(
    body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    supervisor = Supervisor(memo.runtime, dict(body))
    memo.supervisor = supervisor
    await supervisor.run(stopped, memo)


@kopf.on.event(*RESOURCE)
async def flowrun_changed(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    """Hand every watch event to the run's supervisor at once (it may be asleep).

    A run deleted while no supervisor watches it (deleted while the operator was down: Kopf
    starts no daemon for an object being deleted) still takes its infrastructure along.
    """
    supervisor = memo.get("supervisor")
    if supervisor is not None and supervisor.active:
        if type != "DELETED":
            supervisor.see(dict(body))
        return
    deleting = type == "DELETED" or bool(body.get("metadata", {}).get("deletionTimestamp"))
    if deleting and not memo.get("taken_down"):
        memo.taken_down = True
        _in_background(take_down(memo.runtime, RunView.from_body(body)))


def _in_background(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run to the end even if the caller is cancelled (the loop only weakly holds tasks)."""
    task = asyncio.create_task(coroutine)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    return task


async def take_down(runtime: Runtime, run: RunView) -> None:
    """A deleted run takes its infrastructure along (history pruning relies on it): stop,
    then kill after a short grace period. Only in this operator's scope."""
    identifier = run.identifier
    launcher = None if identifier is None else runtime.launcher_for(identifier)
    if run.terminal or identifier is None or launcher is None:
        return
    await asyncio.to_thread(launcher.stop, identifier, DELETION_GRACE_SECONDS)
    deadline = now() + timedelta(seconds=DELETION_GRACE_SECONDS)
    while now() < deadline:
        if (await asyncio.to_thread(launcher.observe, identifier)).gone:
            break
        await asyncio.sleep(0.2)
    else:
        await asyncio.to_thread(launcher.kill, identifier)
    launcher.forget(identifier)


class Supervisor:
    def __init__(self, runtime: Runtime, body: Body) -> None:
        self.runtime = runtime
        self.body = body
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        self.adopted: str | None = None
        self.evented_until = _latest_state_time(body)
        self.active = True

    # --- inputs -------------------------------------------------------------------------------

    def see(self, body: Body) -> None:
        self.body = body
        self.wake.set()

    def wake_threadsafe(self) -> None:
        self.loop.call_soon_threadsafe(self.wake.set)

    async def refresh(self) -> bool:
        """Re-read the run; False when it no longer exists."""
        meta = self.body["metadata"]
        fresh = await asyncio.to_thread(
            self.runtime.api.get_flowrun, meta["namespace"], meta["name"]
        )
        if fresh is None:
            return False
        self.body = fresh
        return True

    # --- the loop -----------------------------------------------------------------------------

    async def run(self, stopped: kopf.DaemonStopped, memo: kopf.Memo) -> None:
        try:
            await self._supervise(stopped)
            reason = stopped.reason
            deleted = reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in reason
            if deleted or RunView.from_body(self.body).deleting:
                memo.taken_down = True
                # Finishes even when Kopf cancels this daemon meanwhile.
                await asyncio.shield(
                    _in_background(take_down(self.runtime, RunView.from_body(self.body)))
                )
        finally:
            self.active = False

    async def _supervise(self, stopped: kopf.DaemonStopped) -> None:
        while not stopped:
            run = RunView.from_body(self.body)
            self._post_state_events(run)
            if run.deleting:
                return
            launcher = self._launcher(run)
            observation = await self._observe(run, launcher)
            action = decide(run, observation, launcher is not None, now())
            if isinstance(action, Done):
                if launcher is not None and run.identifier is not None:
                    launcher.forget(run.identifier)
                return
            if isinstance(action, Wait):
                await self._sleep(action.until, launcher is not None, stopped)
                continue
            try:
                finished = await self._do(action, run, launcher)
            except Conflict:
                if not await self.refresh():
                    return
                continue
            if finished:
                return

    def _launcher(self, run: RunView) -> Launcher | None:
        identifier = run.identifier
        return None if identifier is None else self.runtime.launcher_for(identifier)

    async def _observe(self, run: RunView, launcher: Launcher | None) -> Observation | None:
        identifier = run.identifier
        if launcher is None or identifier is None:
            return None
        if self.adopted != identifier.pid:
            await asyncio.to_thread(launcher.adopt, identifier, self.wake_threadsafe)
            self.adopted = identifier.pid
        return await asyncio.to_thread(launcher.observe, identifier)

    async def _sleep(
        self, until: datetime | None, watching: bool, stopped: kopf.DaemonStopped
    ) -> None:
        settings = self.runtime.settings
        timeout = settings.poll_seconds if watching else settings.idle_poll_seconds
        if until is not None:
            timeout = min(timeout, max(0.0, (until - now()).total_seconds()))
        if self.wake.is_set():
            self.wake.clear()
            return
        woken = asyncio.ensure_future(self.wake.wait())
        stopping = asyncio.ensure_future(_wait_stopped(stopped))
        _, pending = await asyncio.wait(
            {woken, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        self.wake.clear()

    # --- actions ------------------------------------------------------------------------------

    async def _do(self, action: Action, run: RunView, launcher: Launcher | None) -> bool:
        """Carry out one action; True when the operator is done with the run."""
        t = now()
        match action:
            case MarkScheduled(message=message):
                await self._write_state(run, StateType.SCHEDULED, SCHEDULED_NAME, message, t)
            case Launch():
                await self._launch(run, t)
            case MarkCrashed(observation=observation):
                message = (
                    f"The flow's infrastructure {observation.describe()} before the run "
                    "reached a final state."
                )
                await self._write_state(
                    run, StateType.CRASHED, "Crashed", message, t, self._exit_fields(observation)
                )
            case MarkFailed(reason=reason, message=message):
                await self._write_state(run, StateType.FAILED, "Failed", message, t)
                logger.info(
                    "FlowRun %s/%s failed: %s (%s)", run.namespace, run.name, message, reason
                )
            case CancelNow(message=message, unenforceable=unenforceable):
                extra: dict[str, Any] = {"cancellation": {"requestedTime": format_timestamp(t)}}
                if unenforceable:
                    extra["conditions"] = conditions_patch(
                        run, CANCEL_FAILED, True, "NoInfrastructureIdentifier", message, t
                    )
                    events.warning(self.body, reason="CancelFailed", message=message)
                await self._write_state(run, StateType.CANCELLED, "Cancelled", message, t, extra)
            case BeginCancel():
                grace = grace_period(
                    run.spec,
                    await self._deployment_spec(run),
                    default=self.runtime.settings.default_grace_period_seconds,
                )
                deadline = t + timedelta(seconds=grace)
                message = (
                    f"Cancelling: stopping the infrastructure; killing it at "
                    f"{format_timestamp(deadline)} ({grace}s grace period)."
                )
                extra = {
                    "cancellation": {
                        "requestedTime": format_timestamp(t),
                        "gracePeriodSeconds": grace,
                        "killDeadline": format_timestamp(deadline),
                    }
                }
                await self._write_state(run, StateType.CANCELLING, "Cancelling", message, t, extra)
            case SendStop():
                assert launcher is not None and run.identifier is not None
                grace = run.cancellation.grace_period_seconds or 0
                await asyncio.to_thread(launcher.stop, run.identifier, grace)
                events.normal(self.body, "StopSent", f"Asked {run.identifier.pid} to stop.")
                # The grace period counts from the stop request itself; the deadline written
                # with CANCELLING (before any signal) only covers a crash before this point.
                deadline = t + timedelta(seconds=grace)
                steps = {
                    "stopTime": format_timestamp(t),
                    "killDeadline": format_timestamp(deadline),
                }
                await self._write({"cancellation": steps}, run)
            case Kill(lingering=lingering):
                assert launcher is not None and run.identifier is not None
                await asyncio.to_thread(launcher.kill, run.identifier)
                if lingering:
                    events.warning(
                        self.body,
                        reason="Killed",
                        message=f"Killed {run.identifier.pid}: still running after the run ended.",
                    )
                    await asyncio.sleep(1.0)
                else:
                    events.warning(
                        self.body,
                        reason="Killed",
                        message=f"Grace period over; killed {run.identifier.pid}.",
                    )
                    await self._write({"cancellation": {"killTime": format_timestamp(t)}}, run)
            case MarkCancelled(observation=observation):
                how = observation.describe() if observation else "is gone"
                message = f"Cancelled: the infrastructure {how}."
                extra = self._exit_fields(observation)
                extra["cancellation"] = {"goneTime": format_timestamp(t)}
                await self._write_state(run, StateType.CANCELLED, "Cancelled", message, t, extra)
            case ReportUnkillable():
                assert run.identifier is not None
                message = (
                    f"{run.identifier.pid} is still there after SIGKILL; the run stays CANCELLING."
                )
                events.warning(self.body, reason="CancelFailed", message=message)
                await self._write(
                    {
                        "conditions": conditions_patch(
                            run, CANCEL_FAILED, True, "KillFailed", message, t
                        )
                    },
                    run,
                )
            case Finish(observation=observation):
                state = run.status.state
                extra = self._exit_fields(observation)
                extra["conditions"] = conditions_patch(
                    run,
                    FINISHED,
                    True,
                    state.type.value.title() if state else "Finished",
                    "The run is finished and its infrastructure is gone.",
                    t,
                )
                await self._write(extra, run)
                if launcher is not None and run.identifier is not None:
                    launcher.forget(run.identifier)
                return True
        return False

    async def _launch(self, run: RunView, t: datetime) -> None:
        deployment = await self._deployment_spec(run)
        # May list the Deployment's runs (blocking), and may write the run itself and raise
        # Conflict so that the loop re-reads it.
        admitted = await asyncio.to_thread(self.runtime.admission, run, deployment, t)
        if admitted is not None:
            await self._do(admitted, run, None)
            return
        plan = plan_launch(run, deployment, default_image=self.runtime.settings.default_image)
        if isinstance(plan, MarkFailed):
            await self._do(plan, run, None)
            return
        launcher = self.runtime.launchers.get(plan.infrastructure.type.value)
        if launcher is None:
            enabled = ", ".join(sorted(self.runtime.launchers)) or "none"
            await self._do(
                MarkFailed(
                    "NoLauncher",
                    f"This operator cannot run infrastructure type "
                    f"{plan.infrastructure.type.value!r} (enabled: {enabled}).",
                ),
                run,
                None,
            )
            return
        try:
            launched = await asyncio.to_thread(launcher.launch, plan)
        except LaunchError as error:
            await self._do(MarkFailed("LaunchFailed", str(error)), run, None)
            return
        await self._record_launch(run, launcher, launched, plan.attempt, t)

    async def _record_launch(
        self, run: RunView, launcher: Launcher, launched: Launched, attempt: int, t: datetime
    ) -> None:
        """PENDING + identifier, written before the infrastructure may run the flow."""
        identifier = launched.identifier
        message = f"Launched {identifier.type} {identifier.pid}."
        infrastructure: dict[str, Any] = {
            "type": identifier.type,
            "scope": identifier.scope,
            "id": identifier.id,
            "pid": identifier.pid,
            "attempt": attempt,
            "launchTime": format_timestamp(t),
            "exitCode": None,
            "signal": None,
        }
        if launched.log_path:
            infrastructure["logPath"] = launched.log_path
        extra = {
            "infrastructure": infrastructure,
            "conditions": conditions_patch(run, LAUNCHED, True, "Launched", message, t),
        }
        try:
            written = await self._write_state(run, StateType.PENDING, "Pending", message, t, extra)
        except Conflict:
            await asyncio.to_thread(launcher.discard, launched)
            raise
        except Exception:
            # The write may or may not have landed: the status is the only truth.
            if await self._recorded(launched):
                await asyncio.to_thread(launcher.release, launched)
            else:
                await asyncio.to_thread(launcher.discard, launched)
            raise
        if not written:
            await asyncio.to_thread(launcher.discard, launched)
            return
        await asyncio.to_thread(launcher.release, launched)

    async def _recorded(self, launched: Launched) -> bool:
        for delay in (0.5, 1, 2, 4, 8):
            try:
                if not await self.refresh():
                    return False
                infra = (self.body.get("status") or {}).get("infrastructure") or {}
                return bool(infra.get("id") == launched.identifier.id)
            except Exception:
                await asyncio.sleep(delay)
        return False

    # --- writing ------------------------------------------------------------------------------

    async def _write_state(
        self,
        run: RunView,
        state_type: StateType,
        name: str,
        message: str,
        t: datetime,
        extra: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move to a state if kflow.transitions accepts it; False (after a re-read) if not."""
        patch = state_patch(run, state_type, name, message, t)
        if patch is None:
            await self.refresh()
            return False
        patch.update(extra or {})
        await self._write(patch, run)
        return True

    async def _write(self, status: Mapping[str, Any], run: RunView) -> None:
        self.body = await asyncio.to_thread(
            self.runtime.api.patch_flowrun_status,
            run.namespace,
            run.name,
            {**status, "observedGeneration": run.generation},
            run.resource_version,
        )
        self._post_state_events(RunView.from_body(self.body))

    def _exit_fields(self, observation: Observation | None) -> dict[str, Any]:
        if observation is None or (observation.exit_code is None and observation.signal is None):
            return {}
        return {"infrastructure": {"exitCode": observation.exit_code, "signal": observation.signal}}

    async def _deployment_spec(self, run: RunView) -> DeploymentSpec | None:
        ref = run.spec.deployment_ref
        if ref is None:
            return None
        body = self.runtime.indexed_deployment(run.namespace, ref.name)
        if body is None:
            body = await asyncio.to_thread(self.runtime.api.get_deployment, run.namespace, ref.name)
        if body is None:
            return None
        return DeploymentSpec.model_validate(body.get("spec") or {})

    # --- events -------------------------------------------------------------------------------

    def _post_state_events(self, run: RunView) -> None:
        """One Kubernetes Event per state change, whoever wrote it (kubectl describe)."""
        for entry in run.status.state_history or []:
            if self.evented_until is not None and entry.timestamp <= self.evented_until:
                continue
            self.evented_until = entry.timestamp
            _post_state_event(self.body, entry)


def _post_state_event(body: Body, entry: StateHistoryEntry) -> None:
    message = f"{entry.type.value}: {entry.message}" if entry.message else entry.type.value
    metadata = body.get("metadata") or {}
    ref = {key: metadata.get(key) for key in ("namespace", "name", "uid")}
    # One log line per state change; with --log-format json the run's reference is a field.
    logger.info(
        "FlowRun %s/%s %s (%s)",
        ref["namespace"],
        ref["name"],
        message,
        entry.name,
        extra={"k8s_ref": ref},
    )
    if entry.type in (StateType.FAILED, StateType.CRASHED):
        events.warning(body, reason=entry.name, message=message)
    else:
        events.normal(body, reason=entry.name, message=message)


def _latest_state_time(body: Body) -> datetime | None:
    run = RunView.from_body(body)
    history = run.status.state_history or []
    return history[-1].timestamp if history else None


async def _wait_stopped(stopped: kopf.DaemonStopped) -> None:
    await stopped.wait()
