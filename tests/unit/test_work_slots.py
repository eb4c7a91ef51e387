"""Supervisors working at once are bounded; a sleeping one holds no slot; a wait for a slot
that is cancelled gives nothing back (the count of free slots never grows)."""

from __future__ import annotations

import asyncio

import pytest
from kflow_operator.supervision.work_slots import WorkSlot


async def _free(slots: asyncio.Semaphore) -> int:
    count = 0
    while not slots.locked():
        await slots.acquire()
        count += 1
    for _ in range(count):
        slots.release()
    return count


def test_a_slot_is_held_while_working_and_given_up_while_sleeping() -> None:
    async def scenario() -> None:
        slots = asyncio.Semaphore(2)
        one, two, three = (WorkSlot(slots) for _ in range(3))
        async with one.held(), two.held():
            assert await _free(slots) == 0
            waiting = asyncio.create_task(_work(three))
            await asyncio.sleep(0)
            assert not waiting.done(), "a third supervisor waits for a slot"
            async with one.released():
                await asyncio.wait_for(waiting, 1)  # it worked in the slot `one` gave up
            assert await _free(slots) == 0
        assert await _free(slots) == 2

    asyncio.run(scenario())


async def _work(slot: WorkSlot) -> None:
    async with slot.held():
        await asyncio.sleep(0)


def test_a_cancelled_wait_for_a_slot_gives_nothing_back() -> None:
    async def scenario() -> None:
        slots = asyncio.Semaphore(1)
        holder, sleeper = WorkSlot(slots), WorkSlot(slots)
        asleep, wake = asyncio.Event(), asyncio.Event()

        async def supervise() -> None:
            async with sleeper.held(), sleeper.released():
                asleep.set()
                await wake.wait()

        task = asyncio.create_task(supervise())
        await asyncio.wait_for(asleep.wait(), 1)
        async with holder.held():  # the slot the sleeper gave up
            wake.set()
            await asyncio.sleep(0.01)
            assert not task.done(), "awake, it waits for the slot the holder has"
            task.cancel()  # the operator stops
            with pytest.raises(asyncio.CancelledError):
                await task
        assert await _free(slots) == 1, "exactly the one slot, not two"

    asyncio.run(scenario())
