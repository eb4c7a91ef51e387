"""Bounding how many supervisors work at once (operator_context.SUPERVISOR_WORK_SLOTS).

A supervisor holds a slot from its first decision until it is done, except while it sleeps:
thousands of supervisors may exist (every live run has one) but only a bounded number decide,
call the API and hold the responses at a time. A run's first slot is taken before its
supervisor exists (supervision/dispatcher.py admits runs as slots free up) and handed to it, so
a burst of thousands of new runs waits as a queue of names, not as thousands of supervisors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class WorkSlot:
    """One supervisor's claim on the shared slots; knows whether it holds one, so a wait for a
    slot that is cancelled (the operator stopping) never gives back a slot it did not get."""

    def __init__(self, slots: asyncio.Semaphore, *, taken: bool = False) -> None:
        """`taken`: a slot already acquired from `slots` is handed over with this claim."""
        self._slots = slots
        self._held = taken

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        if not self._held:
            await self._take()
        try:
            yield
        finally:
            self.give_back()

    @contextlib.asynccontextmanager
    async def released(self) -> AsyncIterator[None]:
        """Give the slot up for the duration (a sleep); taken again before going on."""
        self.give_back()
        try:
            yield
        finally:
            await self._take()

    async def _take(self) -> None:
        await self._slots.acquire()
        self._held = True

    def give_back(self) -> None:
        """Release the slot if this claim holds one (any number of times)."""
        if self._held:
            self._held = False
            self._slots.release()
