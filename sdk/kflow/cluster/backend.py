"""The engine's backend for a run that is a FlowRun object: reports go to its status.

One FlowRun stands for the top-level flow run of the process (`root_id`, the FlowRun's UID,
so persisted results stay keyed the same when a rescheduled run starts again). Subflow runs
are reported as the mirror task runs of their parent; every task run of the process, at any
depth, is counted in `status.taskRuns`.

Flow-run states are proposals decided by kflow.transitions against the object as the API
server has it, so the engine learns when an operator's CANCELLING won. Task-run states are
only counted here; the status writer thread turns the counts into at most one write per
flush interval.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from kflow.backend import Backend, FlowRun, RunControl, TaskRun
from kflow.cluster.control import ControlView, FlowRunWatcher, control_view, outside_stop_message
from kflow.cluster.flowrun_api import FlowRunApi, retrying
from kflow.cluster.status import PendingReport, TaskRunEvent
from kflow.cluster.status_writer import StateOutcome, StatusWriteError, StatusWriter
from kflow.engine.cancellation import cancel_flow_run, crash_flow_run
from kflow.resources.common import format_timestamp
from kflow.resources.status_patch import StateEntry
from kflow.results import encode_result
from kflow.states import State, StateType
from kflow.transitions import is_accepted

logger = logging.getLogger("kflow.cluster")

STATE_WRITE_TIMEOUT_SECONDS = 60.0
STOP_SIGNAL_PROBE_SECONDS = 2.0
"""How long a stop signal waits to re-read the FlowRun (was a cancellation asked for?)."""
CANCEL_CHECK_SECONDS = 0.2
SUSPENDED = "Suspended"


class FlowRunBackend(Backend):
    name = "kubernetes"
    supports_reschedule = True

    def __init__(
        self,
        api: FlowRunApi,
        flow_run_object: dict[str, Any],
        *,
        watch_api: FlowRunApi | None = None,
        flush_interval: float = 0.5,
    ) -> None:
        super().__init__()
        self._api = api
        self._probe_api = watch_api or api
        # An operator launched this run (PENDING with its infrastructure record): it declares
        # CANCELLED itself, once that infrastructure is gone (design.md §5a).
        self._managed = bool((flow_run_object.get("status") or {}).get("infrastructure"))
        self.root_id = str(flow_run_object["metadata"]["uid"])
        self._writer = StatusWriter(
            api, is_accepted, flush_interval=flush_interval, initial=flow_run_object
        )
        self._watcher = FlowRunWatcher(watch_api or api, flow_run_object, self._on_control)
        self._pause_lock = threading.Condition()
        self._spec_paused = bool((flow_run_object.get("spec") or {}).get("paused"))
        # Created now, so a stop signal before the engine starts lands where it will look.
        self._root_control = RunControl()
        self._controls[self.root_id] = self._root_control
        self._cancelling = False
        self._crash_reason: str | None = None
        initial_view = self._watcher.view
        if initial_view.cancel:
            self.cancel(initial_view.reason or "Flow run was cancelled.")
        if initial_view.paused:
            self._root_control.pause_requested = True

    @property
    def api_writes(self) -> int:
        """Status writes made so far (what the coalescing saves is measured against this)."""
        return self._writer.api_writes

    def start(self) -> None:
        self._writer.start()
        self._watcher.start()

    # -- runs and states ---------------------------------------------------------------
    def create_flow_run(self, flow_run: FlowRun) -> None:
        if flow_run.id == self.root_id:
            self._writer.report(PendingReport(run_name=flow_run.name, flow_name=flow_run.flow_name))

    def set_flow_run_state(self, flow_run: FlowRun, state: State[Any]) -> State[Any]:
        if flow_run.id != self.root_id:
            return state
        if state.type is StateType.RUNNING and self._root_control.cancel_requested:
            # A stop signal or spec.cancel arrived before the body started: never start it.
            if self._crash_reason is not None:
                return State(StateType.CRASHED, message=self._crash_reason)
            reason = self._root_control.reason or "Flow run was cancelled before it started."
            return State(StateType.CANCELLING, message=reason)
        if state.type is StateType.PAUSED and state.name != SUSPENDED:
            pause = pause_status(False, state.state_details.pause_timeout)
            self._writer.report(PendingReport(pause=pause))
        if state.type is StateType.CANCELLED and self._managed:
            # The process is still there: CANCELLED now would claim more than is true. The
            # run stays CANCELLING; the operator writes CANCELLED once the process is gone.
            logger.info(
                "FlowRun %s: cancellation handled; the operator records CANCELLED once this "
                "process is gone",
                self._api.name,
            )
            return state
        if state.type is StateType.COMPLETED:
            self._writer.report(PendingReport(result=self._encode_result(flow_run, state.data)))
        entry = StateEntry(state.type, state.name, state.message, state.when)
        outcome = self.propose(entry)
        if outcome is None or outcome.accepted:
            return state
        current = outcome.current
        if current is None:
            return state
        logger.info(
            "FlowRun %s is %s; the flow's %s was not applied",
            self._api.name,
            current.type.value,
            state.type.value,
        )
        return State(current.type, name=current.name, message=current.message)

    def propose(self, entry: StateEntry) -> StateOutcome | None:
        """Write a state of the FlowRun now; None when the API could not be told."""
        try:
            return self._writer.propose_state(entry).result(STATE_WRITE_TIMEOUT_SECONDS)
        except (StatusWriteError, TimeoutError) as error:
            logger.error("could not record state %s on the FlowRun: %s", entry.type.value, error)
            return None

    def create_task_run(self, task_run: TaskRun) -> None:
        """Counted with its first state."""

    def set_task_run_state(self, task_run: TaskRun, state: State[Any]) -> State[Any]:
        self._writer.record_task_run(
            TaskRunEvent(
                task_run.id,
                task_run.name,
                state.type,
                state.name,
                state.timestamp,
                state.message,
                task_run.run_count,
            )
        )
        return state

    def flush(self) -> None:
        if not self._writer.flush():
            logger.warning("the FlowRun status could not be brought up to date in time")

    def close(self) -> None:
        self._watcher.stop()
        self._writer.close()

    # -- outside control ---------------------------------------------------------------
    def _on_control(self, view: ControlView) -> None:
        """Called from the watcher thread with each change of what the FlowRun asks."""
        # The flag first: a resumed flow must not find a stale pause request at its next task.
        self._root_control.pause_requested = view.paused
        with self._pause_lock:
            self._spec_paused = view.paused
            self._pause_lock.notify_all()
        if view.cancel:
            reason = view.reason or "Flow run was cancelled."
            logger.info("FlowRun %s: %s; cancelling the run", self._api.name, reason)
            self.cancel(reason)

    def cancel(self, reason: str) -> None:
        """The outside-cancel path (spec.cancel, CANCELLING, a SIGTERM after either): hooks
        run, then CANCELLED — written here for a run no operator manages, else by the operator
        once this process is gone.

        Safe in a signal handler: no lock is taken (the interrupted code may hold it), and
        only the first request interrupts the run, so a later one (the operator's SIGTERM
        after spec.cancel) cannot break into the on_cancellation hooks.
        """
        if self._cancelling:
            return
        self._cancelling = True
        self._root_control.reason = reason
        self._root_control.cancel_requested = True
        cancel_flow_run(self.root_id, reason)

    def crash(self, reason: str) -> None:
        """A stop nobody asked for as a cancellation: interrupt the run, which ends CRASHED.

        Same rules as `cancel` (signal-safe, only the first request interrupts the run).
        """
        if self._cancelling:
            return
        self._cancelling = True
        self._crash_reason = reason
        self._root_control.reason = reason
        self._root_control.cancel_requested = True
        crash_flow_run(self.root_id, reason)

    def stop_signal(self, signal_name: str) -> None:
        """SIGTERM & co.: a cancellation when one was requested, else a crash.

        The operator writes CANCELLING (and the user sets spec.cancel) before it signals, so
        what the watcher saw, or else one short re-read of the FlowRun, tells a cancel from an
        eviction, a deleted pod or a `docker stop` from outside.
        """
        if self._cancelling:
            return
        view = self._watcher.view
        if not view.cancel:
            view = self._probe_control()
        if view.cancel:
            self.cancel(f"Flow run received {signal_name} ({view.reason}); cancelling.")
            return
        self.crash(outside_stop_message(signal_name, view.infrastructure))

    def _probe_control(self) -> ControlView:
        """Re-read the FlowRun once, in a helper thread bounded in time (this may run in a
        signal handler); a FlowRun that cannot be read in time counts as not cancelled."""
        found: list[ControlView] = []

        def read() -> None:
            try:
                found.append(control_view(self._probe_api.get(timeout=STOP_SIGNAL_PROBE_SECONDS)))
            except Exception as error:
                logger.warning("could not re-read the FlowRun on a stop signal: %s", error)

        reader = threading.Thread(target=read, name="kflow-stop-probe", daemon=True)
        reader.start()
        reader.join(STOP_SIGNAL_PROBE_SECONDS + 0.5)
        return found[0] if found else self._watcher.view

    def prepare_pause(self, flow_run: FlowRun) -> None:
        """Make `spec.paused` true, so that setting it false (`kflow flow-run resume`) resumes.

        A pause asked for through the spec already has it; `pause_flow_run()` in the flow
        sets it here, before the PAUSED state is written, so no resume can come in between.
        """
        if flow_run.id != self.root_id:
            return
        with self._pause_lock:
            already = self._spec_paused
        if not already:
            retrying(lambda: self._api.patch_spec({"paused": True}))
            with self._pause_lock:
                self._spec_paused = True

    def wait_for_resume(self, flow_run: FlowRun, timeout: float | None) -> bool:
        if flow_run.id != self.root_id:
            return super().wait_for_resume(flow_run, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        ctl = self._root_control
        with self._pause_lock:
            while self._spec_paused:
                if ctl.cancel_requested:
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                # Bounded wait: a cancel from a signal handler sets the flag without notifying.
                self._pause_lock.wait(
                    CANCEL_CHECK_SECONDS if left is None else min(left, CANCEL_CHECK_SECONDS)
                )
        return True

    def resume_flow_run(self, flow_run_id: str) -> None:
        """`resume_flow_run(id)` from a flow in the cluster: `id` is this run's, or the name or
        UID of another FlowRun of the namespace; anything else is a local run."""
        if flow_run_id == self.root_id:
            retrying(lambda: self._api.patch_spec({"paused": False}))
        elif not self._patch_other(flow_run_id, {"paused": False}):
            super().resume_flow_run(flow_run_id)

    def request_pause(self, flow_run_id: str) -> None:
        """`pause_flow_run(flow_run_id=...)` for another FlowRun sets its `spec.paused`."""
        if flow_run_id == self.root_id or not self._patch_other(flow_run_id, {"paused": True}):
            super().request_pause(flow_run_id)

    def _patch_other(self, name_or_uid: str, spec: dict[str, Any]) -> bool:
        name = retrying(lambda: self._api.name_of(name_or_uid))
        if name is None:
            return False
        retrying(lambda: self._api.sibling(name).patch_spec(spec))
        return True

    def suspend_flow_run(self, flow_run: FlowRun, timeout: float | None) -> None:
        """End this process paused (the engine then writes PAUSED `Suspended`); the operator
        starts the run again once `spec.paused` is false, and fails it at `timeoutTime`."""
        self.prepare_pause(flow_run)
        self._writer.report(PendingReport(pause=pause_status(True, timeout)))

    # -- results -------------------------------------------------------------------------
    def _encode_result(self, flow_run: FlowRun, value: Any) -> dict[str, Any]:
        """A result too big for the status is kept in the flow's result store (even when
        the flow does not persist results), and `status.result.reference` says where."""

        def persist() -> str | None:
            key = f"{flow_run.id}/flow"
            store = flow_run.result_store or self.result_store()
            try:
                if store.stored_at(key) is None:
                    store.write(key, value)
            except Exception as error:
                logger.warning("could not persist the flow's result: %s", error)
                return None
            return store.location(key)

        return encode_result(value, persist)


def pause_status(reschedule: bool, timeout: float | None) -> dict[str, Any]:
    """`status.pause` for a pause starting now."""
    timeout_time = None
    if timeout is not None:
        timeout_time = format_timestamp(datetime.now(UTC) + timedelta(seconds=timeout))
    # Every field present (None deletes in a merge patch): nothing of an earlier pause lingers.
    return {"reschedule": reschedule, "timeoutTime": timeout_time, "key": None}
