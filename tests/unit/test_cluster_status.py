"""The pure rules of what the flow process writes into its FlowRun status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from kflow.cluster.status import (
    PendingReport,
    TaskRunEvent,
    TaskRunTally,
    decide_status_patch,
)
from kflow.resources import RECENT_TASK_RUNS_LIMIT, STATE_HISTORY_LIMIT, FlowRunStatus
from kflow.resources.common import format_timestamp as format_time
from kflow.resources.status_patch import StateEntry
from kflow.results import INLINE_RESULT_LIMIT, encode_result
from kflow.states import TERMINAL_STATE_TYPES, StateType

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def epoch(seconds: float) -> float:
    return at(seconds).timestamp()


def state(kind: StateType, seconds: float = 0, name: str | None = None) -> StateEntry:
    return StateEntry(kind, name or kind.value.title(), None, at(seconds))


def flow_side_rule(current: StateEntry | None, proposed: StateEntry) -> bool:
    """A stand-in with the two properties these tests rely on (the real one is C's)."""
    if current is None:
        return True
    if current.type in TERMINAL_STATE_TYPES:
        return False
    return not (
        current.type is StateType.CANCELLING
        and proposed.type not in (StateType.CANCELLED, StateType.CRASHED)
    )


def status_with(*states: StateEntry, **fields: Any) -> dict[str, Any]:
    status: dict[str, Any] = dict(fields)
    if states:
        status["state"] = states[-1].to_status()
        status["stateHistory"] = [s.to_status() for s in states]
    return status


def test_running_sets_start_time_and_counts_the_attempt() -> None:
    decision = decide_status_patch(
        status_with(state(StateType.PENDING)),
        PendingReport(states=[state(StateType.RUNNING, 1)], run_name="brave-otter"),
        flow_side_rule,
    )
    assert decision.accepted == (True,)
    assert decision.patch["state"]["type"] == "RUNNING"
    assert decision.patch["startTime"] == format_time(at(1))
    assert decision.patch["runCount"] == 1
    assert decision.patch["runName"] == "brave-otter"
    assert [h["type"] for h in decision.patch["stateHistory"]] == ["PENDING", "RUNNING"]
    assert "endTime" not in decision.patch


def test_resuming_a_pause_is_the_same_attempt() -> None:
    current = status_with(state(StateType.RUNNING), state(StateType.PAUSED, 1), runCount=1)
    decision = decide_status_patch(
        current, PendingReport(states=[state(StateType.RUNNING, 2)]), flow_side_rule
    )
    assert "runCount" not in decision.patch
    assert "startTime" not in decision.patch


def test_a_rescheduled_run_counts_a_new_attempt_and_keeps_its_first_start() -> None:
    current = status_with(
        state(StateType.RUNNING),
        state(StateType.PAUSED, 1, "Suspended"),
        state(StateType.PENDING, 2),
        runCount=1,
        startTime=format_time(at(0)),
    )
    decision = decide_status_patch(
        current, PendingReport(states=[state(StateType.RUNNING, 3)]), flow_side_rule
    )
    assert decision.patch["runCount"] == 2
    assert "startTime" not in decision.patch


def test_operator_cancelling_wins_over_the_flows_completed() -> None:
    current = status_with(state(StateType.RUNNING), state(StateType.CANCELLING, 1))
    decision = decide_status_patch(
        current,
        PendingReport(states=[state(StateType.COMPLETED, 2)], result={"value": 1}),
        flow_side_rule,
    )
    assert decision.accepted == (False,)
    assert decision.state is not None and decision.state.type is StateType.CANCELLING
    assert "state" not in decision.patch
    assert "stateHistory" not in decision.patch
    assert "endTime" not in decision.patch
    assert decision.patch["result"] == {"value": 1}


def test_terminal_state_sets_end_time() -> None:
    decision = decide_status_patch(
        status_with(state(StateType.RUNNING)),
        PendingReport(states=[state(StateType.FAILED, 5)]),
        flow_side_rule,
    )
    assert decision.patch["endTime"] == format_time(at(5))


def test_several_states_in_one_write_are_decided_in_order() -> None:
    decision = decide_status_patch(
        status_with(state(StateType.PENDING)),
        PendingReport(states=[state(StateType.RUNNING, 1), state(StateType.COMPLETED, 2)]),
        flow_side_rule,
    )
    assert decision.accepted == (True, True)
    assert [h["type"] for h in decision.patch["stateHistory"]] == [
        "PENDING",
        "RUNNING",
        "COMPLETED",
    ]


def test_state_history_is_bounded_keeping_the_newest() -> None:
    history = [state(StateType.RUNNING, i) for i in range(STATE_HISTORY_LIMIT)]
    decision = decide_status_patch(
        status_with(*history),
        PendingReport(states=[state(StateType.COMPLETED, 999)]),
        flow_side_rule,
    )
    entries = decision.patch["stateHistory"]
    assert len(entries) == STATE_HISTORY_LIMIT
    assert entries[-1]["type"] == "COMPLETED"
    assert entries[0]["timestamp"] == format_time(at(1))


def test_long_messages_are_truncated() -> None:
    entry = StateEntry(StateType.FAILED, "Failed", "x" * 100_000, at(0))
    decision = decide_status_patch(
        status_with(state(StateType.RUNNING)), PendingReport(states=[entry]), flow_side_rule
    )
    assert len(decision.patch["state"]["message"]) <= 4096
    assert len(decision.patch["stateHistory"][-1]["message"]) <= 1024


def test_nothing_to_say_is_an_empty_patch() -> None:
    decision = decide_status_patch(
        status_with(state(StateType.RUNNING), runName="a"),
        PendingReport(run_name="a"),
        flow_side_rule,
    )
    assert decision.patch == {}


def test_tally_counts_each_task_run_once_by_its_current_state() -> None:
    tally = TaskRunTally()
    for i in range(1000):
        tally.record(TaskRunEvent(f"t{i}", f"task-{i}", StateType.PENDING, "Pending", epoch(i)))
        tally.record(TaskRunEvent(f"t{i}", f"task-{i}", StateType.RUNNING, "Running", epoch(i)))
    for i in range(990):
        kind = StateType.FAILED if i % 10 == 0 else StateType.COMPLETED
        tally.record(TaskRunEvent(f"t{i}", f"task-{i}", kind, kind.value.title(), epoch(2000 + i)))
    summary = tally.summary()
    assert summary["total"] == 1000
    assert summary["counts"]["COMPLETED"] == 891
    assert summary["counts"]["FAILED"] == 99
    assert summary["counts"]["RUNNING"] == 10
    assert summary["counts"]["PENDING"] == 0
    assert set(summary["counts"]) == {s.value for s in StateType}
    assert len(summary["recent"]) == RECENT_TASK_RUNS_LIMIT
    assert summary["recent"][0]["id"] == "t989"
    newest = summary["recent"][0]
    assert newest["startTime"] == format_time(at(989))
    assert newest["endTime"] == format_time(at(2989))
    assert len(json.dumps(summary)) < 16 * 1024


def test_small_json_results_go_inline() -> None:
    assert encode_result({"a": [1, 2]}, lambda: "unused") == {
        "value": {"a": [1, 2]},
        "summary": "{'a': [1, 2]}",
    }


def test_large_or_non_json_results_become_references() -> None:
    big = "x" * (INLINE_RESULT_LIMIT + 1)
    encoded = encode_result(big, lambda: "file:///results/abc")
    assert encoded["reference"] == "file:///results/abc"
    assert "value" not in encoded
    assert len(encoded["summary"]) <= 1024
    assert encode_result({1, 2}, lambda: None) == {"summary": "{1, 2}"}


def test_none_result_has_only_a_summary() -> None:
    assert encode_result(None, lambda: None) == {"summary": "None"}


def test_what_is_written_fits_the_crd_models() -> None:
    """The status models mirror the CRD schema (C's drift test), so this catches a field
    written under a name or in a shape the API server would prune or refuse."""
    tally = TaskRunTally()
    tally.record(TaskRunEvent("t1", "task-1", StateType.RUNNING, "Running", epoch(1)))
    tally.record(TaskRunEvent("t1", "task-1", StateType.FAILED, "Failed", epoch(2), "boom", 1))
    decision = decide_status_patch(
        status_with(state(StateType.PENDING)),
        PendingReport(
            states=[state(StateType.RUNNING, 1), state(StateType.COMPLETED, 2)],
            run_name="brave-otter",
            result=encode_result([1, 2], lambda: None),
            task_runs=tally.summary(),
        ),
        flow_side_rule,
    )
    parsed = FlowRunStatus.model_validate(decision.patch)
    written = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert written == without_nulls(decision.patch)


def without_nulls(value: Any) -> Any:
    """The patch as stored: a null in a merge patch deletes the field."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def test_a_state_without_message_clears_the_previous_message() -> None:
    previous = StateEntry(StateType.PENDING, "Pending", "Launched process 12", at(0))
    decision = decide_status_patch(
        status_with(previous), PendingReport(states=[state(StateType.RUNNING, 1)]), flow_side_rule
    )
    assert decision.patch["state"]["message"] is None
    assert "message" not in decision.patch["stateHistory"][-1]
