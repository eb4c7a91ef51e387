"""The one rule deciding whether a run may move from its current state to a proposed one.

Two parties write a FlowRun's state — the operator (PENDING, CRASHED, CANCELLING, CANCELLED,
Late/skipped) and the flow's own process (RUNNING, PAUSED, the final state) — and they race.
Both call `check_transition` on the state they just read (with its resourceVersion) before
writing, so whichever writes second either builds on the first or is refused; neither silently
overwrites the other. The rules:

- Anything may be the first state of a run.
- Nothing leaves a terminal state (COMPLETED FAILED CANCELLED CRASHED), except a new attempt by
  a retry: a FAILED or CRASHED run may go to `AwaitingRetry` (SCHEDULED) or `Retrying` (RUNNING).
- A CANCELLING run only ends CANCELLED: the flow finishing (COMPLETED), failing on the stop
  signal (FAILED) or its process vanishing (CRASHED) never overwrites a cancellation the user
  asked for, and nothing un-cancels it.
- Otherwise a run moves forward: SCHEDULED → PENDING → RUNNING ⇄ PAUSED → a terminal state, with
  shortcuts a real run takes (a SCHEDULED run cancelled or failed before it starts, a PENDING run
  failing on invalid parameters or crashing, a paused run rescheduled or timing out, a RUNNING
  run awaiting a retry). COMPLETED needs a run that ran (RUNNING; PAUSED must resume first).
- A state may be replaced by another of the same non-terminal type (SCHEDULED `Late` over
  `Scheduled`, a new message on RUNNING).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kflow.states import TERMINAL_STATE_TYPES, StateType

AWAITING_RETRY = "AwaitingRetry"
RETRYING = "Retrying"

S = StateType

_FORWARD: dict[StateType, frozenset[StateType]] = {
    S.SCHEDULED: frozenset(
        {S.SCHEDULED, S.PENDING, S.RUNNING, S.CANCELLING, S.CANCELLED, S.FAILED, S.CRASHED}
    ),
    S.PENDING: frozenset({S.PENDING, S.RUNNING, S.CANCELLING, S.CANCELLED, S.FAILED, S.CRASHED}),
    S.RUNNING: frozenset(
        {
            S.RUNNING,
            S.PAUSED,
            S.SCHEDULED,
            S.CANCELLING,
            S.CANCELLED,
            S.COMPLETED,
            S.FAILED,
            S.CRASHED,
        }
    ),
    S.PAUSED: frozenset(
        {
            S.PAUSED,
            S.RUNNING,
            S.SCHEDULED,
            S.PENDING,
            S.CANCELLING,
            S.CANCELLED,
            S.FAILED,
            S.CRASHED,
        }
    ),
    S.CANCELLING: frozenset({S.CANCELLING, S.CANCELLED}),
}
"""Accepted proposals from each non-terminal type (terminal types accept only retries)."""

_RETRY_FROM = frozenset({S.FAILED, S.CRASHED})
_RETRY_STATES = {(S.SCHEDULED, AWAITING_RETRY), (S.RUNNING, RETRYING)}


class StateLike(Protocol):
    """Anything with a state type and name: kflow.states.State, a status entry, a record."""

    @property
    def type(self) -> StateType: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class TransitionVerdict:
    """Whether a run may move from one state to another, and why (a due run's start/wait/skip is
    the operator's StartVerdict)."""

    accepted: bool
    reason: str

    def __bool__(self) -> bool:
        return self.accepted


def check_transition(current: StateLike | None, proposed: StateLike) -> TransitionVerdict:
    """Whether `proposed` may replace `current`, with the reason either way (for logs/Events)."""
    if current is None:
        return TransitionVerdict(True, "first state of the run")
    cur, new = StateType(current.type), StateType(proposed.type)
    if cur in TERMINAL_STATE_TYPES:
        if cur in _RETRY_FROM and (new, proposed.name) in _RETRY_STATES:
            return TransitionVerdict(True, f"a retry starts a new attempt after {cur.value}")
        return TransitionVerdict(
            False, f"the run is already {cur.value}; a terminal state is final"
        )
    if cur is S.CANCELLING and new not in _FORWARD[cur]:
        return TransitionVerdict(
            False, f"the run is being cancelled; {new.value} cannot replace CANCELLING"
        )
    if new in _FORWARD[cur]:
        return TransitionVerdict(True, f"{cur.value} → {new.value}")
    return TransitionVerdict(False, f"{cur.value} → {new.value} is not a transition a run makes")


def is_accepted(current: StateLike | None, proposed: StateLike) -> bool:
    """`check_transition` as a plain predicate, for callers that only branch on it."""
    return check_transition(current, proposed).accepted
