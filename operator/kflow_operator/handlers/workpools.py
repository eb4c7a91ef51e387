"""Kopf handler for WorkPools: one daemon per pool of the served namespaces, keeping the pool's
status (workers.py). Kopf runs daemons only in the active replica of a peering and stops them
when it steps down or exits, which is exactly when this operator starts and stops being a
worker of its pools.

Kopf puts its finalizer on every object that has a daemon, although a pool needs no clean-up
when it goes. Left in place by an operator that has stopped, it would hold every deletion of a
pool — `helm uninstall --wait` deletes the chart's pools and the operator together and hung on
it — so an operator takes its finalizer off the pools as it shuts down."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from kflow.resources import GROUP, VERSION, WORKPOOL_PLURAL

from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.operator_context import OperatorContext
from kflow_operator.peers import own_identity
from kflow_operator.settings import FINALIZER, OperatorSettings
from kflow_operator.workers import PoolWorker

WORKPOOLS = (GROUP, VERSION, WORKPOOL_PLURAL)
LEAVE_SECONDS = 10.0
"""How long a stopping daemon may take to remove this operator's entry before Kopf cancels it."""


@kopf.on.cleanup()
async def release_pools(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    context: OperatorContext = memo.context
    released = await asyncio.to_thread(release_pool_finalizers, context.api, context.settings)
    if released:
        logger.info("Took the operator's finalizer off %d work pool(s) on shutdown.", released)


def release_pool_finalizers(api: KflowObjects, settings: OperatorSettings) -> int:
    released = 0
    for namespace in settings.namespaces or (None,):
        listing = api.lister(WORKPOOL_PLURAL, namespace)()
        for pool in listing.get("items") or []:
            meta = pool.get("metadata") or {}
            finalizers = list(meta.get("finalizers") or [])
            if FINALIZER not in finalizers:
                continue
            kept = [f for f in finalizers if f != FINALIZER]
            if api.set_workpool_finalizers(
                str(meta.get("namespace")),
                str(meta.get("name")),
                kept,
                str(meta.get("resourceVersion")),
            ):
                released += 1
    return released


@kopf.daemon(*WORKPOOLS, cancellation_backoff=LEAVE_SECONDS, cancellation_timeout=5.0, backoff=2.0)
async def keep_pool_status(
    body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    context: OperatorContext = memo.context
    await PoolWorker(context, body, own_identity()).run(stopped, body)
