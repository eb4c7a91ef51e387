"""Start-up and clean-up of the FlowRun supervisors (supervision/dispatcher.py), which run
outside Kopf: Kopf does not watch FlowRuns at all."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from kflow_operator import acting
from kflow_operator.metrics.thread_pools import TrackedThreadPool
from kflow_operator.operator_context import OperatorContext
from kflow_operator.supervision.dispatcher import Supervisors

BLOCKING_THREADS = 64
"""Threads for the blocking calls of every supervisor (asyncio.to_thread). Mostly they wait on
the API server; with asyncio's default (CPUs + 4) a burst of slow status writes left launches,
each a few quick hops, queued behind them for seconds."""
STOP_SECONDS = 5.0
"""On exit, how long running supervisors get to finish what they are doing."""


@kopf.on.startup()
async def start_supervising(memo: kopf.Memo, **_: Any) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(
        TrackedThreadPool("io", BLOCKING_THREADS, thread_name_prefix="kflow-io")
    )
    context: OperatorContext | None = memo.get("context")
    if context is None:
        return
    supervisors = Supervisors(context, loop)
    memo.supervisors = supervisors
    context.start_informers(on_run_change=supervisors.on_change)
    acting.on_change(supervisors.on_acting)
    if acting.is_active():
        supervisors.on_acting(True)


@kopf.on.cleanup()
async def stop_supervising(memo: kopf.Memo, **_: Any) -> None:
    supervisors: Supervisors | None = memo.get("supervisors")
    if supervisors is not None:
        await supervisors.stop_all(STOP_SECONDS)
