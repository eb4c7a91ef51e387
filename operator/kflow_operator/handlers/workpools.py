"""Kopf handler for WorkPools: one daemon per pool of the served namespaces, keeping the pool's
status (workers.py). Kopf runs daemons only in the active replica of a peering and stops them
when it steps down or exits, which is exactly when this operator starts and stops being a
worker of its pools."""

from __future__ import annotations

from typing import Any

import kopf
from kflow.resources import GROUP, VERSION, WORKPOOL_PLURAL

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
