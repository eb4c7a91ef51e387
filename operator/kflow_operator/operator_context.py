"""Operator-wide objects every handler shares: settings, the API, the launchers, the indexes,
the scheduling threads and daemons. One per operator process, in Kopf's memo."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kflow.resources import DeploymentSpec
from kflow.resources.pools import run_pool
from kflow.states import StateType

from kflow_operator.decisions.actions import Action
from kflow_operator.decisions.deployment_runs import HELD_NAMES
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.identifiers import InfrastructureId
from kflow_operator.informers import Informers, deployment_ref, state_type
from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.kubeapi.list_watch import Change
from kflow_operator.kubeapi.notification_reads import NotificationReads
from kflow_operator.launchers.base import Launcher
from kflow_operator.metrics.thread_pools import TrackedThreadPool
from kflow_operator.object_index import BY_POOL
from kflow_operator.scheduling.store import TERMINAL_NAMES, ScheduleApi
from kflow_operator.settings import OperatorSettings
from kflow_operator.wakeups import DeploymentWaker

LaunchAdmission = Callable[[SupervisedRun, DeploymentSpec | None, datetime], Action | None]
"""Asked right before a due run is launched: None admits it; an action (e.g. a HoldForSlot, a
Skip) is done instead. The Deployment side plugs concurrency and deadlines in here."""

SUPERVISOR_WORK_SLOTS = 128
"""Supervisors working at once (deciding, calling the API); the rest wait for a slot holding
only their run's body. In a burst of thousands of new runs, every supervisor working at once
held its decision models, queued calls and responses together: the peak the process's memory
never came down from. Twice the I/O threads (handlers/flowruns.py) keeps them all busy."""

PASS_THREADS = 8
"""Scheduling passes get their own threads: a minute boundary with hundreds of Deployments
must not queue the launches (asyncio.to_thread's default pool) behind them."""


def admit_everything(run: SupervisedRun, deployment: DeploymentSpec | None, now: datetime) -> None:
    return None


def _pass_pool() -> TrackedThreadPool:
    return TrackedThreadPool("schedule", PASS_THREADS, thread_name_prefix="kflow-schedule")


@dataclass
class OperatorContext:
    settings: OperatorSettings
    api: KflowObjects
    launchers: dict[str, Launcher]
    notification_reads: NotificationReads
    admission: LaunchAdmission = field(default=admit_everything)
    informers: Informers | None = None
    schedules: ScheduleApi = field(init=False)
    """What scheduling passes and the launch gate read and write: the indexes, once started."""
    pass_pool: TrackedThreadPool = field(default_factory=_pass_pool)
    deployment_wakers: dict[tuple[str, str], DeploymentWaker] = field(default_factory=dict)
    """The scheduling daemon of each Deployment (namespace, name), for the watch to wake."""
    run_wakers: dict[tuple[str, str], Callable[[], None]] = field(default_factory=dict)
    """Wakes the supervisor of each run (namespace, name); callable from any thread."""
    background: set[asyncio.Task[None]] = field(default_factory=set)
    """Tasks that must run to the end (the loop only weakly holds tasks)."""
    work_slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(SUPERVISOR_WORK_SLOTS)
    )
    """Held by a supervisor while it works, not while it sleeps (supervision/supervisor.py)."""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When this operator started: the startTime of its entries in the pools it serves."""

    def __post_init__(self) -> None:
        self.schedules = ScheduleApi(self.api)

    def start_informers(self, on_run_change: Callable[[Change], None] | None = None) -> Informers:
        """Start the watches; `on_run_change` is told every FlowRun change (the supervisors)."""
        if self.informers is None:
            self.informers = Informers(
                self.settings.namespaces,
                self.api,
                on_pool_change=self.wake_pool_waiters,
                on_run_state_change=self.wake_deployment_of,
                on_run_change=on_run_change,
            )
            self.informers.start()
            self.schedules.runs = self.informers.flowruns
            self.schedules.deployments = self.informers.deployments
            self.schedules.workpools = self.informers.workpools
        return self.informers

    def indexed_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Deployment from memory (never blocks: fine on the event loop); None when the index
        does not have it, and then only the API server can say whether it exists."""
        if self.informers is None:
            return None
        return self.informers.deployments.get(namespace, name)

    def indexed_pool_of(self, body: Mapping[str, Any]) -> tuple[bool, str | None]:
        """(known, pool) of a run from memory, never blocking: known is False when its
        Deployment is not (yet) in the index and the run names no pool of its own."""
        spec = body.get("spec") or {}
        own = run_pool(spec, None)
        ref = deployment_ref(body)
        if own is not None or ref is None:
            return True, own
        meta = body.get("metadata") or {}
        deployment = self.indexed_deployment(str(meta.get("namespace")), ref)
        if deployment is None:
            return False, None
        return True, run_pool(spec, deployment.get("spec"))

    def wake_deployment_of(self, run: Mapping[str, Any]) -> None:
        """A run's state type changed, or it was deleted: its Deployment's scheduling pass may
        have something to do (history to prune, a slot freed), and when it ended or went, a
        held run of its pool may take its slot. From any thread; never blocks."""
        ref = deployment_ref(run)
        meta = run.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        waker = self.deployment_wakers.get((namespace, ref)) if ref is not None else None
        if waker is not None:
            waker.wake_threadsafe()
        runs = self.schedules.runs
        gone = runs is not None and runs.get(namespace, str(meta.get("name"))) is None
        if gone or state_type(run) in TERMINAL_NAMES:
            self._free_pool_slot(namespace, run)

    def _free_pool_slot(self, namespace: str, run: Mapping[str, Any]) -> None:
        """A run of a pool with a concurrencyLimit ended: a slot may be free for a held run."""
        known, pool = self.indexed_pool_of(run)
        if not known or pool is None:
            return
        pools = self.schedules.workpools
        found = pools.get(namespace, pool) if pools is not None else None
        if found is not None and (found.get("spec") or {}).get("concurrencyLimit") is not None:
            self.wake_pool_waiters(namespace, pool)

    def wake_pool_waiters(self, namespace: str, pool: str) -> None:
        """Something that may release the pool's held runs happened (the pool was created,
        changed or deleted; a run of it ended): wake the scheduling daemons of its Deployments
        and of every held run's Deployment, and the supervisors of its held runs of no
        Deployment. From any thread; never blocks (skipped while the first listing is not
        in: every daemon looks at its runs once it is)."""
        schedules = self.schedules
        runs, deployments = schedules.runs, schedules.deployments
        if runs is None or deployments is None or not (runs.ready and deployments.ready):
            return
        names = {d["metadata"]["name"] for d in deployments.group(namespace, pool, by=BY_POOL)}
        for run in schedules.pool_runs(namespace, pool):
            state = (run.get("status") or {}).get("state") or {}
            if (
                state.get("type") != StateType.SCHEDULED.value
                or state.get("name") not in HELD_NAMES
            ):
                continue
            ref = deployment_ref(run)
            if ref is not None:
                names.add(ref)
            elif (waker := self.run_wakers.get((namespace, run["metadata"]["name"]))) is not None:
                waker()
        for name in names:
            if (deployment_waker := self.deployment_wakers.get((namespace, name))) is not None:
                deployment_waker.wake_threadsafe()

    def launcher_for(self, identifier: InfrastructureId) -> Launcher | None:
        """The launcher that may act on `identifier`: same type AND same scope, else None."""
        launcher = self.launchers.get(identifier.type)
        if launcher is None or not launcher.owns(identifier):
            return None
        return launcher

    def in_background(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run to the end even if the caller is cancelled."""
        task = asyncio.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def close(self) -> None:
        if self.informers is not None:
            self.informers.close()
        for launcher in self.launchers.values():
            launcher.close()
        self.pass_pool.shutdown(wait=False)
