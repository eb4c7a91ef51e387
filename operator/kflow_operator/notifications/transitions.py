"""The state transitions of a run, as its status records them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kflow.resources import FlowRunStatus
from kflow.resources.notifications import NotifiedState
from kflow.states import StateType

NOTIFIABLE = frozenset(state.value for state in NotifiedState)


@dataclass(frozen=True)
class Transition:
    type: StateType
    name: str
    message: str | None
    timestamp: datetime

    @property
    def notifiable(self) -> bool:
        """Whether any target could want it (cheap: before reading a Deployment or pool)."""
        return self.type.value in NOTIFIABLE or self.name in NOTIFIABLE


def run_transitions(status: FlowRunStatus) -> list[Transition]:
    """Every state the run entered that its bounded history still holds, oldest first, plus
    the current state should a writer have left it out of the history. The current state's
    message is the longer one (a history entry's is cut shorter), so it is the one kept."""
    found = [
        Transition(entry.type, entry.name, entry.message, entry.timestamp)
        for entry in status.state_history or []
    ]
    state = status.state
    if state is None:
        return found
    current = Transition(state.type, state.name, state.message, state.timestamp)
    kept = [
        t
        for t in found
        if (t.type, t.name, t.timestamp) != (state.type, state.name, state.timestamp)
    ]
    return [*kept, current]
