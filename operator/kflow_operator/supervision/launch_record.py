"""Recording a launch for its supervisor: PENDING and the identifier, written before the
infrastructure may run the flow (the launcher holds it at a gate until then)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from kflow_operator.decisions import run_writes
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.infrastructure import Launched
from kflow_operator.launchers.base import Launcher
from kflow_operator.metrics import run_records
from kflow_operator.supervision.steps import Step

if TYPE_CHECKING:
    from kflow_operator.supervision.supervisor import Supervisor

RECHECK_DELAYS = (0.5, 1, 2, 4, 8)
"""Between re-reads of a run whose launch write failed, to learn whether it landed."""


async def record_launch(
    supervisor: Supervisor,
    run: SupervisedRun,
    launcher: Launcher,
    launched: Launched,
    attempt: int,
    t: datetime,
) -> Step:
    """Released only once written, discarded when not."""
    try:
        step = await supervisor._write(run, run_writes.launched(run, launched, attempt, t), t)
    except Exception:
        # The write may or may not have landed: the status is the only truth.
        if await _recorded(supervisor, launched):
            run_records.launched(supervisor.body)
            await asyncio.to_thread(launcher.release, launched)
        else:
            await asyncio.to_thread(launcher.discard, launched)
        raise
    if step is Step.CARRIED_OUT:
        run_records.launched(supervisor.body)
        await asyncio.to_thread(launcher.release, launched)
    else:
        await asyncio.to_thread(launcher.discard, launched)
    return step


async def _recorded(supervisor: Supervisor, launched: Launched) -> bool:
    for delay in RECHECK_DELAYS:
        try:
            if not await supervisor.refresh():
                return False
            infra = (supervisor.body.get("status") or {}).get("infrastructure") or {}
            return bool(infra.get("id") == launched.identifier.id)
        except Exception:
            await asyncio.sleep(delay)
    return False
