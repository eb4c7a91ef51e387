"""One supervisor per FlowRun that needs one, started and fed from the operator's own FlowRun
watch (informers.py).

Kopf ran the supervisors as one daemon per run, from a second watch of every FlowRun. Its
machinery per run (each event processed through its handler pipeline, a finalizer added and
removed around every daemon, the object's diff patched) cost most of the operator's CPU at
scale, and its event queue lagged the index by tens of seconds in a burst. The index's watch
already sees every change; here it also drives the supervisors, in the same order.

Kopf's peering does not pause this: the supervisors run only while this replica acts
(kflow_operator.acting), stop when it pauses, and start again from the index when it resumes.

A run that needs a supervisor waits, by name, until a work slot is free (work_slots.py); its
supervisor is made then, from the index's newest version of it, and handed the slot. Making all
of them at once cost ~4 KiB per run beyond its body (the supervisor, its task and their
events): 20 MiB for a burst of 5,000 new runs, ~200 MiB for 50,000, to wait for 128 slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from dataclasses import dataclass, field

from kflow_operator.decisions.run_finalizer import wants_supervisor
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.list_watch import Change
from kflow_operator.object_index import is_newer, version_of
from kflow_operator.operator_context import OperatorContext
from kflow_operator.supervision.supervisor import Supervisor
from kflow_operator.supervision.take_down import take_down
from kflow_operator.supervision.work_slots import WorkSlot
from kflow_operator.wakeups import StopFlag

logger = logging.getLogger(__name__)

RESTART_SECONDS = 1.0
"""A supervisor that failed (an unexpected error) starts again after this long."""

ENDED_MEMORY_SECONDS = 300.0
"""How long a finished supervisor's last version is remembered: events queued before its last
write arrive within seconds, even in a burst; thousands of finished runs need not be kept."""

Key = tuple[str, str]


def key_of(body: Body) -> Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name"))


@dataclass
class _Entry:
    supervisor: Supervisor
    stop: StopFlag = field(default_factory=StopFlag)
    task: asyncio.Task[None] | None = None


class Supervisors:
    def __init__(self, context: OperatorContext, loop: asyncio.AbstractEventLoop) -> None:
        self._context = context
        self._loop = loop
        self._entries: dict[Key, _Entry] = {}
        self._ended: dict[Key, tuple[str | None, float]] = {}
        """Runs whose supervisor finished with them, at the version it last saw, and when: an
        event not newer (queued before its last write) does not start another. Kept for
        ENDED_MEMORY_SECONDS, in the order they ended."""
        self._taken_down: set[Key] = set()
        self._waiting: dict[Key, None] = {}
        """Runs that need a supervisor, oldest first, until a work slot is free (`_admit`)."""
        self._admitting: asyncio.Task[None] | None = None
        self._active = False
        self._kopf_context = contextvars.copy_context()
        """Kopf's context variables (where Events are queued for posting, its settings), as
        its start-up handler that made this has them: the watch thread has none of them, and
        what it hands over runs in these."""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def waiting(self) -> int:
        """Runs waiting for a work slot before their supervisor is made."""
        return len(self._waiting)

    # --- from other threads -------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """A FlowRun change from the index's watch thread."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the operator is stopping
            self._loop.call_soon_threadsafe(self._handle, change, context=self._kopf_context)

    def on_acting(self, active: bool) -> None:
        """This replica started or stopped acting (peering), from any thread."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._set_active, active, context=self._kopf_context)

    # --- on the loop --------------------------------------------------------------------------

    def _handle(self, change: Change) -> None:
        body = change.object
        key = key_of(body)
        entry = self._entries.get(key)
        if change.type == "DELETED":
            self._ended.pop(key, None)
            self._waiting.pop(key, None)
            if entry is not None:
                entry.stop.set(deleted=True)
            elif self._active and key not in self._taken_down and self._serves(body) is True:
                # Deleted with no supervisor on it (its finalizer was taken off by hand, or it
                # never had one): whatever infrastructure it names still goes. A run whose pool
                # cannot be told from memory is left alone: its own operator takes it down.
                self._context.in_background(take_down(self._context, SupervisedRun.from_body(body)))
            self._taken_down.discard(key)
            return
        if entry is not None:
            entry.supervisor.see(body)
            return
        if key in self._waiting or not self._active or not wants_supervisor(body):
            return
        if key in self._ended:
            ended, _ = self._ended[key]
            if version_of(body) == ended or not is_newer(version_of(body), ended):
                return
            del self._ended[key]
        self._enqueue(key)

    def _serves(self, body: Body) -> bool | None:
        """Whether the run's pool is this operator's (--work-pool); None when its pool cannot be
        told from memory (its Deployment is not indexed yet)."""
        settings = self._context.settings
        if not settings.work_pools:
            return True
        known, pool = self._context.indexed_pool_of(body)
        return settings.serves_pool(pool) if known else None

    def _set_active(self, active: bool) -> None:
        if active == self._active:
            return
        self._active = active
        if not active:
            logger.info("Not acting (another replica does): stopping %d supervisors.", len(self))
            self._waiting.clear()
            for entry in self._entries.values():
                entry.stop.set()
            return
        informers = self._context.informers
        bodies = informers.flowruns.bodies() if informers is not None else []
        for body in bodies:
            key = key_of(body)
            if key not in self._entries and wants_supervisor(body):
                self._ended.pop(key, None)
                self._enqueue(key)

    def _enqueue(self, key: Key) -> None:
        self._waiting[key] = None
        if self._admitting is None or self._admitting.done():
            self._admitting = asyncio.create_task(self._admit())

    async def _admit(self) -> None:
        """Make the waiting runs' supervisors, oldest first, each once a work slot is free, and
        hand it that slot; a run is taken as the index has it then (its newest version)."""
        slots = self._context.work_slots
        while self._waiting and self._active:
            await slots.acquire()
            slot = WorkSlot(slots, taken=True)
            handed = False
            try:
                key = next(iter(self._waiting), None)
                if key is None or not self._active:
                    continue
                del self._waiting[key]
                body = self._indexed(key)
                if (
                    body is not None
                    and key not in self._entries
                    and wants_supervisor(body)
                    # Known to be another operator's pool: no supervisor (it would only sleep,
                    # one per run of every other pool); its next change is looked at again.
                    and self._serves(body) is not False
                ):
                    self._start(key, body, slot=slot)
                    handed = True
            finally:
                if not handed:
                    slot.give_back()

    def _indexed(self, key: Key) -> Body | None:
        informers = self._context.informers
        return informers.flowruns.get(*key) if informers is not None else None

    def _start(
        self, key: Key, body: Body, delay: float = 0.0, slot: WorkSlot | None = None
    ) -> None:
        entry = _Entry(Supervisor(self._context, body, slot))
        self._entries[key] = entry
        entry.task = asyncio.create_task(self._supervise(key, entry, delay))

    async def _supervise(self, key: Key, entry: _Entry, delay: float) -> None:
        failed = False
        try:
            if delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(entry.stop.wait(), delay)
            if not entry.stop and await entry.supervisor.run(entry.stop):
                self._taken_down.add(key)
        except Exception:
            failed = True
            logger.exception(
                "Supervising FlowRun %s/%s failed; again in %.0f s", *key, RESTART_SECONDS
            )
        finally:
            entry.supervisor.active = False
            entry.supervisor.slot.give_back()  # stopped before it ran: the slot it was handed
            if self._entries.get(key) is entry:
                del self._entries[key]
        if entry.stop:
            return
        if failed and self._active:
            self._start(key, entry.supervisor.body, RESTART_SECONDS)
        else:
            self._remember_ended(key, version_of(entry.supervisor.body))

    def _remember_ended(self, key: Key, version: str | None) -> None:
        now = time.monotonic()
        self._ended.pop(key, None)
        self._ended[key] = (version, now)
        while self._ended:
            oldest = next(iter(self._ended))
            if now - self._ended[oldest][1] < ENDED_MEMORY_SECONDS:
                break
            del self._ended[oldest]

    async def stop_all(self, timeout: float) -> None:
        """The operator exits: stop every supervisor, waiting up to `timeout` for them."""
        self._active = False
        self._waiting.clear()
        if self._admitting is not None:
            self._admitting.cancel()
        tasks = [e.task for e in self._entries.values() if e.task is not None]
        for entry in self._entries.values():
            entry.stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
