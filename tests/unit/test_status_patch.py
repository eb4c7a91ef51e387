"""The one builder of a FlowRun state write, and the three writers that use it.

What a user sees is the status after the merge patch is applied, so several tests apply the
patch the way the API server does (RFC 7386: null deletes, objects merge, lists replace).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from kflow.resources import STATE_HISTORY_LIMIT, FlowRunStatus
from kflow.resources.common import TRUNCATION_MARKER, format_timestamp, truncate
from kflow.resources.flowrun import HISTORY_MESSAGE_LIMIT, STATE_MESSAGE_LIMIT, STATE_NAME_LIMIT
from kflow.resources.status_patch import (
    StateEntry,
    build_state_patch,
    current_state,
    patch_to_state,
)
from kflow.states import StateType
from kflow_operator.decisions.supervised_run import SupervisedRun, state_patch
from kflow_operator.scheduling.run_states import write_run_state
from kflow_operator.scheduling.store import ScheduleApi

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
S = StateType


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def entry(
    kind: StateType, seconds: float = 0, name: str = "", message: str | None = None
) -> StateEntry:
    return StateEntry(kind, name or kind.value.title(), message, at(seconds))


def status_with(*states: StateEntry, **fields: Any) -> dict[str, Any]:
    status: dict[str, Any] = dict(fields)
    if states:
        status["state"] = states[-1].to_status()
        status["stateHistory"] = [s.to_status() for s in states]
    return status


def merged(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


# --- transitions -----------------------------------------------------------------------


def test_an_accepted_state_becomes_the_state_and_the_newest_history_entry() -> None:
    status = status_with(entry(S.PENDING))
    built = build_state_patch(status, [entry(S.RUNNING, 1)])
    assert built.accepted == (True,)
    assert built.state == entry(S.RUNNING, 1)
    assert built.patch["state"] == {
        "type": "RUNNING",
        "name": "Running",
        "message": None,
        "timestamp": "2026-06-01T12:00:01.000000Z",
    }
    assert [h["type"] for h in built.patch["stateHistory"]] == ["PENDING", "RUNNING"]


def test_the_first_state_of_a_run_is_always_accepted() -> None:
    patch = patch_to_state({}, entry(S.SCHEDULED, name="Scheduled", message="due at noon"))
    assert patch is not None
    assert patch["state"]["message"] == "due at noon"
    assert patch["stateHistory"] == [
        {
            "type": "SCHEDULED",
            "name": "Scheduled",
            "message": "due at noon",
            "timestamp": "2026-06-01T12:00:00.000000Z",
        }
    ]


@pytest.mark.parametrize(
    ("current", "proposed"),
    [
        (S.COMPLETED, S.CRASHED),  # a terminal state is final
        (S.CANCELLING, S.COMPLETED),  # the flow finishing never overwrites a cancellation
        (S.PENDING, S.COMPLETED),  # COMPLETED needs a run that ran
    ],
)
def test_a_refused_state_writes_nothing(current: StateType, proposed: StateType) -> None:
    status = status_with(entry(current), runCount=1)
    built = build_state_patch(status, [entry(proposed, 1)])
    assert built.accepted == (False,)
    assert built.patch == {}
    assert built.state == current_state(status)
    assert patch_to_state(status, entry(proposed, 1)) is None


def test_states_are_judged_in_order_against_the_last_accepted_one() -> None:
    status = status_with(entry(S.RUNNING), entry(S.CANCELLING, 1))
    built = build_state_patch(status, [entry(S.COMPLETED, 2), entry(S.CANCELLED, 3)])
    assert built.accepted == (False, True)
    assert built.patch["state"]["type"] == "CANCELLED"
    assert [h["type"] for h in built.patch["stateHistory"]] == [
        "RUNNING",
        "CANCELLING",
        "CANCELLED",
    ]


def test_an_injected_rule_decides_instead_of_kflow_transitions() -> None:
    refuse_all = build_state_patch({}, [entry(S.PENDING)], lambda current, proposed: False)
    assert refuse_all.accepted == (False,) and refuse_all.patch == {}


# --- messages --------------------------------------------------------------------------


def test_a_state_without_a_message_clears_the_previous_states_message() -> None:
    stored = status_with(entry(S.PENDING, message="Launched process 12"))
    patch = patch_to_state(stored, entry(S.RUNNING, 1))
    assert patch is not None
    after = merged(stored, patch)
    assert "message" not in after["state"]
    assert "message" not in after["stateHistory"][-1]
    assert after["stateHistory"][0]["message"] == "Launched process 12"


def test_an_empty_message_is_no_message() -> None:
    patch = patch_to_state(
        status_with(entry(S.PENDING, message="old")), entry(S.RUNNING, 1, message="")
    )
    assert patch is not None
    assert patch["state"]["message"] is None
    assert "message" not in patch["stateHistory"][-1]


def test_long_messages_and_names_are_cut_with_the_marker() -> None:
    proposed = entry(S.FAILED, 1, name="N" * 500, message="x" * 100_000)
    patch = patch_to_state(status_with(entry(S.RUNNING)), proposed)
    assert patch is not None
    state, newest = patch["state"], patch["stateHistory"][-1]
    assert len(state["message"]) == STATE_MESSAGE_LIMIT
    assert state["message"].endswith(TRUNCATION_MARKER)
    assert len(newest["message"]) == HISTORY_MESSAGE_LIMIT < STATE_MESSAGE_LIMIT
    assert newest["message"].endswith(TRUNCATION_MARKER)
    assert len(state["name"]) == STATE_NAME_LIMIT and state["name"].endswith(TRUNCATION_MARKER)
    FlowRunStatus.model_validate(merged({}, patch))


def test_truncate_keeps_short_text_and_never_exceeds_the_limit() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("x" * 10, 10) == "x" * 10
    assert truncate("x" * 11, 10) == "x" * 10
    cut = truncate("abcdefghijklmnopqrstuvwxyz", 20)
    assert cut == "abcdefg" + TRUNCATION_MARKER and len(cut) == 20


# --- history ---------------------------------------------------------------------------


def test_history_keeps_the_newest_entries_and_old_entries_unchanged() -> None:
    old = [entry(S.RUNNING, i, name=f"Running{i}") for i in range(STATE_HISTORY_LIMIT)]
    stored = status_with(*old)
    stored["stateHistory"][-1]["timestamp"] = "2026-06-01T12:00:29Z"  # as another writer put it
    patch = patch_to_state(stored, entry(S.COMPLETED, 99))
    assert patch is not None
    history = patch["stateHistory"]
    assert len(history) == STATE_HISTORY_LIMIT
    assert history[0]["name"] == "Running1"
    assert history[-2]["timestamp"] == "2026-06-01T12:00:29Z"
    assert history[-1]["type"] == "COMPLETED"


def test_a_refused_state_leaves_no_history_entry() -> None:
    status = status_with(entry(S.PENDING), entry(S.RUNNING, 1))
    built = build_state_patch(status, [entry(S.PENDING, 2), entry(S.PAUSED, 3)])
    assert built.accepted == (False, True)
    assert [h["type"] for h in built.patch["stateHistory"]] == ["PENDING", "RUNNING", "PAUSED"]


# --- derived fields --------------------------------------------------------------------


def test_entering_running_counts_an_attempt_and_the_first_sets_start_time() -> None:
    patch = patch_to_state(status_with(entry(S.PENDING)), entry(S.RUNNING, 1))
    assert patch is not None
    assert patch["runCount"] == 1
    assert patch["startTime"] == "2026-06-01T12:00:01.000000Z"
    assert "endTime" not in patch


def test_resuming_a_pause_or_a_new_running_message_is_the_same_attempt() -> None:
    for previous in (S.PAUSED, S.RUNNING):
        stored = status_with(entry(S.RUNNING), entry(previous, 1), runCount=1, startTime="t")
        patch = patch_to_state(stored, entry(S.RUNNING, 2))
        assert patch is not None
        assert "runCount" not in patch and "startTime" not in patch


def test_a_retry_counts_a_new_attempt_and_keeps_the_first_start() -> None:
    first_start = format_timestamp(at(1))
    stored = status_with(entry(S.RUNNING, 1), entry(S.FAILED, 2), runCount=1, startTime=first_start)
    patch = patch_to_state(stored, entry(S.RUNNING, 3, name="Retrying"))
    assert patch is not None
    assert patch["runCount"] == 2
    assert "startTime" not in patch


def test_one_write_through_a_whole_run_sets_every_derived_field_once() -> None:
    built = build_state_patch(
        status_with(entry(S.PENDING)), [entry(S.RUNNING, 1), entry(S.COMPLETED, 5)]
    )
    assert built.patch["runCount"] == 1
    assert built.patch["startTime"] == format_timestamp(at(1))
    assert built.patch["endTime"] == format_timestamp(at(5))


@pytest.mark.parametrize("terminal", [S.COMPLETED, S.FAILED, S.CRASHED, S.CANCELLED])
def test_a_terminal_state_sets_end_time(terminal: StateType) -> None:
    patch = patch_to_state(status_with(entry(S.RUNNING)), entry(terminal, 7))
    assert patch is not None
    assert patch["endTime"] == "2026-06-01T12:00:07.000000Z"


def test_a_non_terminal_state_leaves_end_time_alone() -> None:
    patch = patch_to_state(status_with(entry(S.RUNNING)), entry(S.CANCELLING, 7))
    assert patch is not None and "endTime" not in patch


# --- time format -----------------------------------------------------------------------


def test_times_are_rfc3339_utc_with_z_and_microseconds() -> None:
    tokyo = timezone(timedelta(hours=9))
    moment = datetime(2026, 6, 1, 21, 0, 0, 250000, tzinfo=tokyo)
    patch = patch_to_state({}, StateEntry(S.FAILED, "Failed", None, moment))
    assert patch is not None
    assert patch["state"]["timestamp"] == "2026-06-01T12:00:00.250000Z"
    assert patch["endTime"] == "2026-06-01T12:00:00.250000Z"


def test_a_naive_time_is_taken_as_utc_and_messages_quote_seconds() -> None:
    naive = datetime(2026, 6, 1, 12, 0, 0, 250000)
    assert format_timestamp(naive) == "2026-06-01T12:00:00.250000Z"
    assert format_timestamp(naive, timespec="seconds") == "2026-06-01T12:00:00Z"


# --- the three writers -----------------------------------------------------------------


class RecordingScheduleApi(ScheduleApi):
    """The scheduler's API with the write recorded instead of sent."""

    def __init__(self) -> None:
        super().__init__()
        self.patches: list[dict[str, Any]] = []

    def patch_run_status(
        self, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> dict[str, Any] | None:
        self.patches.append(dict(status))
        return {"metadata": {"resourceVersion": "2"}, "status": dict(status)}


def body_with(status: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "r", "uid": "u", "resourceVersion": "1"},
        "spec": {"deploymentRef": {"name": "d"}},
        "status": dict(status),
    }


def test_the_supervisor_and_the_scheduler_write_what_the_builder_builds() -> None:
    stored = status_with(entry(S.PENDING, message="Launched process 12"))
    expected = patch_to_state(stored, entry(S.CANCELLED, 9, name="Skipped", message="late"))
    supervisor = state_patch(
        SupervisedRun.from_body(body_with(stored)), S.CANCELLED, "Skipped", "late", at(9)
    )
    api = RecordingScheduleApi()
    write_run_state(api, body_with(stored), S.CANCELLED, "Skipped", "late", at(9))
    assert expected is not None
    assert supervisor == expected
    assert api.patches == [expected]


def test_the_supervisors_state_without_a_message_clears_the_stale_one() -> None:
    stored = status_with(entry(S.RUNNING, message="step 3 of 5"))
    patch = state_patch(
        SupervisedRun.from_body(body_with(stored)), S.CANCELLING, "Cancelling", None, at(1)
    )
    assert patch is not None
    assert "message" not in merged(stored, patch)["state"]


def test_the_scheduler_refuses_what_the_rule_refuses() -> None:
    api = RecordingScheduleApi()
    done = body_with(status_with(entry(S.RUNNING), entry(S.COMPLETED, 1)))
    assert write_run_state(api, done, S.CANCELLED, "Skipped", "late", at(2)) is None
    assert api.patches == []
