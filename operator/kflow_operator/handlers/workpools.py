"""Kopf handler for WorkPools: one daemon per pool of the served namespaces, keeping the pool's
status (workers.py). Kopf runs daemons only in the active replica of a peering and stops them
when it steps down or exits, which is exactly when this operator starts and stops being a
worker of its pools.

Kopf marks every daemon as needing its finalizer on the object, although a pool needs no
clean-up when it goes: deleted, it simply stops being served (Kopf stops the daemon when the
watch says the pool is gone). With the finalizer, a pool could not be deleted while no operator
ran — and `helm uninstall --wait` deletes the chart's pools together with the operator and its
RBAC, so it hung. The daemon is registered without it (handlers/finalizerless.py)."""

from __future__ import annotations

from typing import Any

import kopf
from kflow.resources import GROUP, VERSION, WORKPOOL_PLURAL

from kflow_operator.handlers.finalizerless import register_without_finalizer
from kflow_operator.operator_context import OperatorContext
from kflow_operator.peers import own_identity
from kflow_operator.workers import PoolWorker

WORKPOOLS = (GROUP, VERSION, WORKPOOL_PLURAL)
LEAVE_SECONDS = 10.0
"""How long a stopping daemon may take to remove this operator's entry before Kopf cancels it."""


@kopf.daemon(*WORKPOOLS, cancellation_backoff=LEAVE_SECONDS, cancellation_timeout=5.0, backoff=2.0)
async def keep_pool_status(
    body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    context: OperatorContext = memo.context
    await PoolWorker(context, body, own_identity()).run(stopped, body)


register_without_finalizer(keep_pool_status)
