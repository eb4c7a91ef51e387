"""A deleted run takes its infrastructure along (history pruning relies on it): stop, then kill
after a short grace period. Only infrastructure in this operator's scope is touched."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.operator_context import OperatorContext

DELETION_GRACE_SECONDS = 10
"""A deleted run's process gets this long after SIGTERM before SIGKILL."""


def now() -> datetime:
    return datetime.now(UTC)


async def take_down(context: OperatorContext, run: SupervisedRun) -> None:
    identifier = run.identifier
    launcher = None if identifier is None else context.launcher_for(identifier)
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
