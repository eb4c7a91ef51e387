"""Every (current, proposed) pair of state types, against a table a reviewer can read."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from kflow.states import StateType
from kflow.transitions import check_transition, is_accepted

# Rows: current type. Columns: proposed type, in this order. "y" accepted, "." refused.
COLUMNS = [
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "PAUSED",
    "CANCELLING",
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "CRASHED",
]
TABLE = """
SCHEDULED   y y y . y y . y y
PENDING     . y y . y y . y y
RUNNING     y . y y y y y y y
PAUSED      y y y y y y . y y
CANCELLING  . . . . y y . . .
CANCELLED   . . . . . . . . .
COMPLETED   . . . . . . . . .
FAILED      . . . . . . . . .
CRASHED     . . . . . . . . .
"""


@dataclass(frozen=True)
class St:
    type: StateType
    name: str


def plain(state_type: StateType) -> St:
    return St(state_type, state_type.value.title())


def expected_pairs() -> list[tuple[StateType, StateType, bool]]:
    rows = [line.split() for line in TABLE.strip().splitlines()]
    assert [row[0] for row in rows] == [t.value for t in StateType], "table covers every type"
    return [
        (StateType(row[0]), StateType(column), mark == "y")
        for row in rows
        for column, mark in zip(COLUMNS, row[1:], strict=True)
    ]


@pytest.mark.parametrize(("current", "proposed", "accepted"), expected_pairs())
def test_every_pair(current: StateType, proposed: StateType, accepted: bool) -> None:
    verdict = check_transition(plain(current), plain(proposed))
    assert verdict.accepted is accepted, verdict.reason
    assert verdict.reason


@pytest.mark.parametrize("proposed", list(StateType))
def test_anything_may_be_the_first_state(proposed: StateType) -> None:
    assert is_accepted(None, plain(proposed))


@pytest.mark.parametrize("failed", [StateType.FAILED, StateType.CRASHED])
def test_a_retry_leaves_failed_or_crashed(failed: StateType) -> None:
    assert is_accepted(plain(failed), St(StateType.SCHEDULED, "AwaitingRetry"))
    assert is_accepted(plain(failed), St(StateType.RUNNING, "Retrying"))


@pytest.mark.parametrize("final", [StateType.COMPLETED, StateType.CANCELLED])
def test_no_retry_after_completed_or_cancelled(final: StateType) -> None:
    assert not is_accepted(plain(final), St(StateType.SCHEDULED, "AwaitingRetry"))
    assert not is_accepted(plain(final), St(StateType.RUNNING, "Retrying"))


def test_retry_names_must_match_their_types() -> None:
    assert not is_accepted(plain(StateType.FAILED), St(StateType.RUNNING, "AwaitingRetry"))
    assert not is_accepted(plain(StateType.FAILED), St(StateType.PENDING, "Retrying"))


def test_completed_never_overwrites_a_cancellation() -> None:
    verdict = check_transition(plain(StateType.CANCELLING), plain(StateType.COMPLETED))
    assert not verdict
    assert "being cancelled" in verdict.reason
    assert not is_accepted(plain(StateType.CANCELLED), plain(StateType.COMPLETED))


def test_refusals_say_why() -> None:
    verdict = check_transition(plain(StateType.COMPLETED), plain(StateType.RUNNING))
    assert verdict.reason == "the run is already COMPLETED; a terminal state is final"
    verdict = check_transition(plain(StateType.PENDING), plain(StateType.COMPLETED))
    assert verdict.reason == "PENDING → COMPLETED is not a transition a run makes"


def test_same_type_updates_are_accepted_for_named_states() -> None:
    assert is_accepted(St(StateType.SCHEDULED, "Scheduled"), St(StateType.SCHEDULED, "Late"))
