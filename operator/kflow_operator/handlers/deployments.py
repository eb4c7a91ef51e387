"""Kopf handlers for Deployments: one scheduling daemon per Deployment, and the launch gate.

The daemon runs a scheduling pass (scheduling/deployment_pass.py) and then sleeps until the
next fire time or the next deadline of a waiting run — not a coarse poll — or until woken early
by a spec change or by one of the Deployment's runs changing state type (a slot frees, a run
ends and history may be pruned). Starting a due run is the FlowRun supervisor's job
(supervision/); right before it launches one, it asks the launch gate
(scheduling/admission.py), installed as `OperatorContext.admission` at start-up.

The daemon puts no finalizer on Deployments (handlers/finalizerless.py): deleted, a Deployment
simply stops being scheduled, and the finalizer's PATCH per Deployment was what most of the
operator's memory went to with hundreds of them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import kopf
from kflow.resources import DEPLOYMENT_PLURAL, GROUP, VERSION
from kflow.resources.pools import run_pool

from kflow_operator import events
from kflow_operator.handlers.finalizerless import register_without_finalizer
from kflow_operator.informers import apply_change
from kflow_operator.kubeapi.list_watch import Change
from kflow_operator.operator_context import OperatorContext
from kflow_operator.scheduling.admission import admit_launch
from kflow_operator.scheduling.deployment_pass import scheduling_pass, seconds_until
from kflow_operator.wakeups import DeploymentWaker, doze

T = TypeVar("T")
DEPLOYMENTS = (GROUP, VERSION, DEPLOYMENT_PLURAL)

IDLE_SECONDS = 300.0
"""With nothing scheduled, a Deployment is looked at again after this long anyway."""
RETRY_SECONDS = 2.0
"""After a failed pass (API unavailable), the next try."""
OVERSLEEP = timedelta(milliseconds=5)
"""Timers may fire a hair early; waking just after a fire time means one pass, not two."""

logger = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


async def _in_pool(context: OperatorContext, function: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(context.pass_pool, functools.partial(function, *args))


@kopf.on.startup()
def install_launch_gate(memo: kopf.Memo, **_: Any) -> None:
    context: OperatorContext | None = memo.get("context")
    if context is not None:
        context.admission = functools.partial(admit_launch, context.schedules)


@kopf.daemon(*DEPLOYMENTS, cancellation_timeout=10.0, backoff=RETRY_SECONDS)
async def schedule_deployment(
    body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    context: OperatorContext = memo.context
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    waker = DeploymentWaker(asyncio.get_running_loop(), body["metadata"].get("generation"))
    context.deployment_wakers[(namespace, name)] = waker
    try:
        while not stopped:
            try:
                deployment = await _in_pool(
                    context, context.schedules.get_deployment, namespace, name
                )
                if deployment is None or deployment["metadata"].get("deletionTimestamp"):
                    return
                waker.generation = deployment["metadata"].get("generation")
                pool = run_pool({}, deployment.get("spec"))
                if not context.settings.serves_pool(pool):
                    # Scheduled by the operators of its pool; a spec change wakes us.
                    await doze(waker.wake, stopped, IDLE_SECONDS)
                    continue
                result = await _in_pool(
                    context, scheduling_pass, context.schedules, deployment, now()
                )
            except Exception:
                logger.exception("Scheduling pass for Deployment %s/%s failed", namespace, name)
                await doze(waker.wake, stopped, RETRY_SECONDS)
                continue
            for event in result.events:
                events.post(event, deployment)
            if result.created or result.deleted:
                logger.info(
                    "Deployment %s/%s: created %s, deleted %s",
                    namespace,
                    name,
                    result.created,
                    result.deleted,
                )
            wake_at = None if result.wake_at is None else result.wake_at + OVERSLEEP
            await doze(waker.wake, stopped, seconds_until(wake_at, now(), IDLE_SECONDS))
    finally:
        if context.deployment_wakers.get((namespace, name)) is waker:
            del context.deployment_wakers[(namespace, name)]


register_without_finalizer(schedule_deployment)


@kopf.on.event(*DEPLOYMENTS)
async def deployment_changed(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    """A spec change (new generation) or deletion wakes the daemon; status writes do not.

    Kopf's watch and the index's are separate streams: Kopf's news goes into the index too, so
    a daemon woken here never reads an older spec than the one that woke it.
    """
    context: OperatorContext = memo.context
    meta = body["metadata"]
    _remember(context, body, type)
    waker = context.deployment_wakers.get((meta["namespace"], meta["name"]))
    if waker is None:
        return
    if (
        type == "DELETED"
        or meta.get("deletionTimestamp")
        or meta.get("generation") != waker.generation
    ):
        waker.wake_threadsafe()


def _remember(context: OperatorContext, body: kopf.Body, type: str | None) -> None:
    index = context.schedules.deployments
    if index is not None:
        apply_change(index, Change(type or "MODIFIED", dict(body)))
