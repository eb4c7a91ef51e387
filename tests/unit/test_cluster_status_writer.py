"""The status writer thread: coalescing and optimistic concurrency, against an in-memory object
that behaves like the API server's status subresource (resourceVersion check, merge patch)."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime
from typing import Any

from kflow.cluster.rest import ApiError
from kflow.cluster.status import PendingReport, TaskRunEvent
from kflow.cluster.status_writer import StatusWriter
from kflow.resources.status_patch import StateEntry
from kflow.states import StateType
from kflow.transitions import is_accepted


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class InMemoryFlowRun:
    """One FlowRun: a status write with a stale resourceVersion fails with 409."""

    name = "run"

    def __init__(self, status: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self.obj: dict[str, Any] = {
            "metadata": {"name": "run", "uid": "uid-1", "resourceVersion": "1"},
            "spec": {},
            "status": status,
        }
        self.writes: list[dict[str, Any]] = []
        self._written = threading.Event()
        self.conflicts = 0

    def get(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.obj)

    def connect_ahead(self) -> None:
        return None

    def patch_status(self, patch: dict[str, Any], resource_version: str) -> dict[str, Any]:
        with self._lock:
            if resource_version != self.obj["metadata"]["resourceVersion"]:
                self.conflicts += 1
                raise ApiError(409, "Conflict")
            self.writes.append(copy.deepcopy(patch))
            self._written.set()
            return self._apply(patch)

    def wait_for_write(self, timeout: float) -> bool:
        """Whether a status write came within `timeout` seconds."""
        return self._written.wait(timeout)

    def operator_writes(self, patch: dict[str, Any]) -> None:
        with self._lock:
            self._apply(patch)

    def _apply(self, patch: dict[str, Any]) -> dict[str, Any]:
        merge(self.obj["status"], patch)
        version = int(self.obj["metadata"]["resourceVersion"]) + 1
        self.obj["metadata"]["resourceVersion"] = str(version)
        return copy.deepcopy(self.obj)


def entry(kind: StateType) -> StateEntry:
    return StateEntry(kind, kind.value.title(), None, datetime.now(UTC))


def writer_for(api: InMemoryFlowRun, flush_interval: float = 0.5) -> StatusWriter:
    writer = StatusWriter(api, is_accepted, flush_interval=flush_interval, initial=api.get())  # type: ignore[arg-type]
    writer.start()
    return writer


def test_a_thousand_task_run_events_become_a_few_writes_with_exact_counts() -> None:
    api = InMemoryFlowRun({"state": entry(StateType.PENDING).to_status()})
    writer = writer_for(api)
    assert writer.propose_state(entry(StateType.RUNNING)).result(5).accepted
    for i in range(1000):
        for kind in (StateType.PENDING, StateType.RUNNING, StateType.COMPLETED):
            writer.record_task_run(TaskRunEvent(f"t{i}", f"task-{i}", kind, kind.title(), 0.0))
    assert writer.flush(5)
    writer.close()
    task_runs = api.obj["status"]["taskRuns"]
    assert task_runs["total"] == 1000
    assert task_runs["counts"]["COMPLETED"] == 1000
    assert sum(task_runs["counts"].values()) == 1000
    assert len(api.writes) <= 4, len(api.writes)


def test_operator_cancelling_written_in_between_wins_over_completed() -> None:
    api = InMemoryFlowRun({"state": entry(StateType.RUNNING).to_status()})
    writer = writer_for(api)
    cancelling = entry(StateType.CANCELLING).to_status()
    api.operator_writes({"state": cancelling, "stateHistory": [cancelling]})
    outcome = writer.propose_state(entry(StateType.COMPLETED)).result(5)
    writer.report(PendingReport(run_name="late-name"))
    assert writer.flush(5)
    writer.close()
    assert not outcome.accepted
    assert outcome.current is not None and outcome.current.type is StateType.CANCELLING
    assert api.conflicts == 1
    assert api.obj["status"]["state"]["type"] == "CANCELLING"
    assert api.obj["status"]["runName"] == "late-name"
    cancelled = writer_for(api).propose_state(entry(StateType.CANCELLED)).result(5)
    assert cancelled.accepted
    assert [h["type"] for h in api.obj["status"]["stateHistory"]] == ["CANCELLING", "CANCELLED"]


def test_a_state_is_written_at_once_carrying_the_pending_task_counts() -> None:
    api = InMemoryFlowRun({})
    writer = writer_for(api, flush_interval=30)
    writer.record_task_run(TaskRunEvent("t", "t", StateType.RUNNING, "Running", 0.0))
    outcome = writer.propose_state(entry(StateType.PENDING)).result(5)
    assert outcome.accepted
    assert api.obj["status"]["state"]["type"] == "PENDING"
    assert api.obj["status"]["taskRuns"]["counts"]["RUNNING"] == 1
    writer.close()
    assert len(api.writes) == 1


def test_the_run_name_reported_first_is_written_with_running() -> None:
    """The engine reports the run's name and proposes RUNNING right after: one write, so RUNNING
    does not wait behind a write of the name alone."""
    api = InMemoryFlowRun({"state": entry(StateType.PENDING).to_status()})
    writer = writer_for(api)
    writer.report(PendingReport(run_name="brisk-otter", flow_name="quick"))
    assert not api.wait_for_write(0.2), "the name alone was written"
    assert writer.propose_state(entry(StateType.RUNNING)).result(5).accepted
    writer.close()
    assert len(api.writes) == 1, api.writes
    assert api.obj["status"]["runName"] == "brisk-otter"
    assert api.obj["status"]["state"]["type"] == "RUNNING"
