"""Operator-wide objects every handler shares: settings, the API, the launchers, the indexes,
the scheduling threads and daemons. One per operator process, in Kopf's memo."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kflow.resources import DeploymentSpec

from kflow_operator.decisions.actions import Action
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.identifiers import InfrastructureId
from kflow_operator.informers import Informers
from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.launchers.base import Launcher
from kflow_operator.scheduling.store import ScheduleApi
from kflow_operator.settings import OperatorSettings
from kflow_operator.wakeups import DeploymentWaker

LaunchAdmission = Callable[[SupervisedRun, DeploymentSpec | None, datetime], Action | None]
"""Asked right before a due run is launched: None admits it; an action (e.g. a HoldForSlot, a
Skip) is done instead. The Deployment side plugs concurrency and deadlines in here."""

PASS_THREADS = 8
"""Scheduling passes get their own threads: a minute boundary with hundreds of Deployments
must not queue the launches (asyncio.to_thread's default pool) behind them."""


def admit_everything(run: SupervisedRun, deployment: DeploymentSpec | None, now: datetime) -> None:
    return None


def _pass_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=PASS_THREADS, thread_name_prefix="kflow-schedule")


@dataclass
class OperatorContext:
    settings: OperatorSettings
    api: KflowObjects
    launchers: dict[str, Launcher]
    admission: LaunchAdmission = field(default=admit_everything)
    informers: Informers | None = None
    schedules: ScheduleApi = field(init=False)
    """What scheduling passes and the launch gate read and write: the indexes, once started."""
    pass_pool: ThreadPoolExecutor = field(default_factory=_pass_pool)
    deployment_wakers: dict[tuple[str, str], DeploymentWaker] = field(default_factory=dict)
    """The scheduling daemon of each Deployment (namespace, name), for the watch to wake."""
    background: set[asyncio.Task[None]] = field(default_factory=set)
    """Tasks that must run to the end (the loop only weakly holds tasks)."""

    def __post_init__(self) -> None:
        self.schedules = ScheduleApi(self.api)

    def start_informers(self) -> Informers:
        if self.informers is None:
            self.informers = Informers(self.settings.namespaces, self.api)
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
