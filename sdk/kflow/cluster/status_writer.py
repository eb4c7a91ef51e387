"""One thread that owns every write to the FlowRun status.

Task runs change state far faster than an API server should be written to, so their events
only update an in-memory tally; the thread writes the tally's summary at most once per
`flush_interval`, and at close. A proposed flow-run state is written at once (the flow waits
for the answer: an operator may already have said CANCELLING), together with whatever else is
pending. Every write carries the resourceVersion it was decided on; on 409 the thread re-reads
the object and decides again with `decide_status_patch`, so an operator's concurrent write is
never overwritten and the flow learns the state that actually won.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from kflow.cluster.flowrun_api import (
    CONFLICT,
    NOT_FOUND,
    TRANSIENT_ERRORS,
    FlowRunApi,
    short_error,
)
from kflow.cluster.rest import ApiError
from kflow.cluster.status import PendingReport, TaskRunEvent, TaskRunTally, decide_status_patch
from kflow.resources.status_patch import StateEntry, TransitionRule, current_state

logger = logging.getLogger("kflow.cluster")

RETRY_BACKOFF_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class StateOutcome:
    """What became of a proposed state: accepted, or refused in favour of `current`."""

    accepted: bool
    current: StateEntry | None


class StatusWriteError(RuntimeError):
    """The API server refused the status write for a reason retrying cannot fix."""


class StatusWriter:
    def __init__(
        self,
        api: FlowRunApi,
        accepts: TransitionRule,
        flush_interval: float = 0.5,
        initial: dict[str, Any] | None = None,
    ) -> None:
        self._api = api
        self._accepts = accepts
        self._flush_interval = flush_interval
        self._object = initial
        self._lock = threading.Condition()
        self._pending = PendingReport()
        self._waiters: list[Future[StateOutcome]] = []
        self._tally = TaskRunTally()
        self._tally_dirty = False
        self._urgent = False
        self._closing = False
        self._in_flight = False
        # Counted from the start: what the engine reports first (the run's name) waits for
        # the RUNNING write that follows it at once, rather than being a write of its own.
        self._last_flush = time.monotonic()
        self.api_writes = 0
        self._thread = threading.Thread(
            target=self._run, name=f"kflow-status-{api.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def propose_state(self, entry: StateEntry) -> Future[StateOutcome]:
        """Queue a flow-run state for an immediate write; the future says whether it won."""
        future: Future[StateOutcome] = Future()
        with self._lock:
            self._pending.states.append(entry)
            self._waiters.append(future)
            self._urgent = True
            self._lock.notify_all()
        return future

    def report(self, report: PendingReport) -> None:
        """Queue fields for the next coalesced write."""
        with self._lock:
            self._pending.absorb(report)
            self._lock.notify_all()

    def record_task_run(self, event: TaskRunEvent) -> None:
        """Count a task run's new state; written with the next coalesced flush."""
        with self._lock:
            self._tally.record(event)
            if not self._tally_dirty:
                self._tally_dirty = True
                self._lock.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Write everything reported so far now; False if that did not finish in time."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._urgent = True
            self._lock.notify_all()
            while self._thread.is_alive() and (
                self._in_flight or self._tally_dirty or not self._pending.is_empty()
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write everything still pending, then stop the thread."""
        with self._lock:
            self._closing = True
            self._urgent = True
            self._lock.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("status writer did not finish within %.0f s", timeout)

    def _run(self) -> None:
        # The first write is the flow's RUNNING, which the flow waits on: connect (a TLS
        # handshake, tens of ms on a busy host) while it still reads its Deployment and loads.
        self._api.connect_ahead()
        while True:
            with self._lock:
                while not self._has_work_due():
                    if self._closing:
                        self._fail_waiters(StatusWriteError("status writer closed"))
                        return
                    self._lock.wait(self._time_to_next_flush())
                report = self._take_pending()
                waiters, self._waiters = self._waiters, []
                self._urgent = False
                self._in_flight = True
            try:
                self._flush(report, waiters)
            finally:
                with self._lock:
                    self._in_flight = False
                    self._lock.notify_all()

    def _has_work_due(self) -> bool:
        has_work = not self._pending.is_empty() or self._tally_dirty
        if not has_work:
            self._urgent = False
            return False
        if self._urgent or self._closing:
            return True
        return time.monotonic() - self._last_flush >= self._flush_interval

    def _time_to_next_flush(self) -> float | None:
        if self._pending.is_empty() and not self._tally_dirty:
            return None
        return max(0.0, self._flush_interval - (time.monotonic() - self._last_flush))

    def _take_pending(self) -> PendingReport:
        report, self._pending = self._pending, PendingReport()
        if self._tally_dirty:
            report.task_runs = self._tally.summary()
            self._tally_dirty = False
        return report

    def _fail_waiters(self, error: Exception) -> None:
        for waiter in self._waiters:
            waiter.set_exception(error)
        self._waiters = []

    def _flush(self, report: PendingReport, waiters: list[Future[StateOutcome]]) -> None:
        attempt = 0
        while True:
            try:
                outcomes = self._write(report)
            except ApiError as error:
                if 400 <= error.status < 500 and error.status != 429:
                    message = f"FlowRun status write refused: {error.status} {error.reason}: "
                    message += error.message[:500]
                    logger.error("%s", message)
                    for waiter in waiters:
                        waiter.set_exception(StatusWriteError(message))
                    self._last_flush = time.monotonic()
                    return
                attempt = self._back_off(attempt, error)
                continue
            except TRANSIENT_ERRORS as error:  # connection trouble: the API may be restarting
                attempt = self._back_off(attempt, error)
                continue
            self._last_flush = time.monotonic()
            for waiter, outcome in zip(waiters, outcomes, strict=True):
                waiter.set_result(outcome)
            return

    def _back_off(self, attempt: int, error: Exception) -> int:
        delay = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
        if attempt % 10 == 0:  # the first failure of an outage, then every tenth
            logger.warning(
                "FlowRun status write failed (%s); retrying every %.1f s at most",
                short_error(error),
                RETRY_BACKOFF_SECONDS[-1],
            )
        time.sleep(delay)
        return attempt + 1

    def _write(self, report: PendingReport) -> list[StateOutcome]:
        """Decide against the freshest object and write; on 409 re-read and decide again."""
        obj = self._object if self._object is not None else self._read()
        while True:
            decision = decide_status_patch(obj.get("status") or {}, report, self._accepts)
            outcomes = [StateOutcome(ok, decision.state) for ok in decision.accepted]
            if not decision.patch:
                return outcomes
            try:
                updated = self._api.patch_status(
                    decision.patch, str(obj["metadata"]["resourceVersion"])
                )
            except ApiError as error:
                if error.status == CONFLICT:
                    obj = self._read()
                    continue
                if error.status == NOT_FOUND:
                    logger.error("FlowRun %s is gone; status not written", self._api.name)
                    return [StateOutcome(False, current_state({})) for _ in outcomes]
                raise
            self.api_writes += 1
            self._remember(updated)
            return outcomes

    def _read(self) -> dict[str, Any]:
        obj = self._api.get()
        self._remember(obj)
        return obj

    def _remember(self, obj: dict[str, Any]) -> None:
        with self._lock:
            self._object = obj
