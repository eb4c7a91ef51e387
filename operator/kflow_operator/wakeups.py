"""How the operator's daemons sleep: until their deadline, until a watch event wakes them, or
until Kopf stops them, whichever comes first. The FlowRun supervisors and the Deployment
schedulers sleep alike."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import kopf


async def doze(wake: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Sleep up to `seconds`; a wake that came while the daemon was busy ends it at once."""
    if wake.is_set():
        wake.clear()
        return
    woken = asyncio.ensure_future(wake.wait())
    stopping = asyncio.ensure_future(_wait_stopped(stopped))
    _, pending = await asyncio.wait(
        {woken, stopping}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    wake.clear()


async def _wait_stopped(stopped: kopf.DaemonStopped) -> None:
    await stopped.wait()


@dataclass
class DeploymentWaker:
    """What the watch handlers need to wake one Deployment's scheduling daemon."""

    loop: asyncio.AbstractEventLoop
    generation: int | None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    run_states: dict[str, str] = field(default_factory=dict)
    """The state type last seen of each of the Deployment's runs: a change wakes the daemon."""

    def wake_threadsafe(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the operator is stopping
            self.loop.call_soon_threadsafe(self.wake.set)
