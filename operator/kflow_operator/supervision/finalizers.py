"""Writing a run's finalizers for its supervisor (decisions/run_finalizer.py says when the
operator's is on: only while the run may have infrastructure)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from kflow_operator.kubeapi import Body

if TYPE_CHECKING:
    from kflow_operator.supervision.supervisor import Supervisor

TRIES = 5


async def write_finalizers(
    supervisor: Supervisor,
    change: Callable[[Body], list[str] | None],
    version: str | None = None,
) -> bool:
    """Write the run's finalizers as `change` makes them (None: nothing to change).

    At `version` (the version a decision was made on): one try, False when the run moved since.
    Without: at the version last read, re-reading and trying again when it moved; False only
    when the run is gone."""
    for _ in range(1 if version is not None else TRIES):
        wanted = change(supervisor.body)
        if wanted is None:
            return True
        meta = supervisor.body["metadata"]
        written = await asyncio.to_thread(
            supervisor.context.api.set_flowrun_finalizers,
            meta["namespace"],
            meta["name"],
            wanted,
            version if version is not None else meta["resourceVersion"],
        )
        if written is not None:
            supervisor.body = written
            return True
        if version is not None or not await supervisor.refresh():
            return False
    raise RuntimeError(f"the finalizers of FlowRun {meta['namespace']}/{meta['name']} kept moving")
