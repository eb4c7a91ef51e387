"""Kopf handlers for FlowRuns: one supervising daemon per run that still needs the operator
(supervision/supervisor.py), and every watch event handed to it at once."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import kopf
from kflow.resources import FLOWRUN_PLURAL, GROUP, VERSION
from kflow.resources.notifications import DeliveryPhase
from kflow.states import TERMINAL_STATE_TYPES

from kflow_operator.decisions.supervised_run import FINISHED, SupervisedRun
from kflow_operator.metrics.thread_pools import TrackedThreadPool
from kflow_operator.operator_context import OperatorContext
from kflow_operator.supervision.supervisor import Supervisor
from kflow_operator.supervision.take_down import take_down

RESOURCE = (GROUP, VERSION, FLOWRUN_PLURAL)
BLOCKING_THREADS = 64
"""Threads for the blocking calls of every supervisor (asyncio.to_thread). Mostly they wait on
the API server; with asyncio's default (CPUs + 4) a burst of slow status writes left launches,
each a few quick hops, queued behind them for seconds."""


def needs_supervision(status: Mapping[str, Any], **_: Any) -> bool:
    """Kopf filter: every run except terminal ones the operator has finished with (their
    infrastructure gone, and no notification waiting for a retry)."""
    state = (status.get("state") or {}).get("type")
    if state not in {t.value for t in TERMINAL_STATE_TYPES}:
        return True
    if any(n.get("phase") == DeliveryPhase.PENDING for n in status.get("notifications") or []):
        return True
    return not any(
        c.get("type") == FINISHED and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


@kopf.on.startup()
async def widen_thread_pool(**_: Any) -> None:
    asyncio.get_running_loop().set_default_executor(
        TrackedThreadPool("io", BLOCKING_THREADS, thread_name_prefix="kflow-io")
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
    supervisor = Supervisor(memo.context, dict(body))
    memo.supervisor = supervisor
    try:
        await supervisor.run(stopped, memo)
    finally:
        # Kopf keeps each object's memo for as long as the object exists: an ended
        # supervisor left there (its bodies, notifier, wake event) was kept for every
        # terminal run. An inactive one and none are the same to flowrun_changed.
        if memo.get("supervisor") is supervisor:
            del memo["supervisor"]


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
    context: OperatorContext = memo.context
    if deleting and not memo.get("taken_down") and _served(context, body):
        memo.taken_down = True
        context.in_background(take_down(context, SupervisedRun.from_body(body)))


def _served(context: OperatorContext, body: kopf.Body) -> bool:
    """Whether the run's pool is this operator's (--work-pool); a run whose pool cannot be
    told from memory is left alone: its own operator takes it down."""
    settings = context.settings
    if not settings.work_pools:
        return True
    known, pool = context.indexed_pool_of(body)
    return known and settings.serves_pool(pool)
