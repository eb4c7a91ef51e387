"""How the operator's daemons sleep: until their deadline, until a watch event wakes them, or
until they are stopped, whichever comes first. The FlowRun supervisors and the Deployment
schedulers sleep alike."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Stopping(Protocol):
    """Kopf's DaemonStopped, or a StopFlag: true once the daemon should stop."""

    def __bool__(self) -> bool: ...

    def wait(self) -> Awaitable[Any]: ...


class StopFlag:
    """Tells a FlowRun supervisor to stop (its run was deleted, this replica paused, the
    operator exits)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.deleted = False
        """The run is gone from the API server."""

    def __bool__(self) -> bool:
        return self._event.is_set()

    def set(self, deleted: bool = False) -> None:
        self.deleted = self.deleted or deleted
        self._event.set()

    async def wait(self) -> bool:
        return await self._event.wait()


async def doze(wake: asyncio.Event, stopped: Stopping, seconds: float) -> None:
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


async def _wait_stopped(stopped: Stopping) -> None:
    await stopped.wait()


@dataclass
class DeploymentWaker:
    """What the watch handlers need to wake one Deployment's scheduling daemon."""

    loop: asyncio.AbstractEventLoop
    generation: int | None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wake_threadsafe(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the operator is stopping
            self.loop.call_soon_threadsafe(self.wake.set)
