"""Bounding how many supervisors work at once (operator_context.SUPERVISOR_WORK_SLOTS).

A supervisor holds a slot from its first decision until it is done, except while it sleeps:
thousands of supervisors may exist (every live run has one) but only a bounded number decide,
call the API and hold the responses at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class WorkSlot:
    """One supervisor's claim on the shared slots; knows whether it holds one, so a wait for a
    slot that is cancelled (the operator stopping) never gives back a slot it did not get."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots
        self._held = False

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        await self._take()
        try:
            yield
        finally:
            self._give()

    @contextlib.asynccontextmanager
    async def released(self) -> AsyncIterator[None]:
        """Give the slot up for the duration (a sleep); taken again before going on."""
        self._give()
        try:
            yield
        finally:
            await self._take()

    async def _take(self) -> None:
        await self._slots.acquire()
        self._held = True

    def _give(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()
