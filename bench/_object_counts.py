"""A light watch for the scale benchmark: how many objects of a namespace are in a terminal
state, and how many writes (MODIFIED events) the namespace saw, without keeping bodies.

RunWatch (bench._cluster) keeps every run's newest body and re-checks a condition over all of
them on every event: with 5,000 runs that is O(N) per event, seconds of the benchmark's own
CPU taken from the operator on a 2-core host. This keeps one state string per object.
"""

from __future__ import annotations

import math
import time
from typing import Any

from bench._cluster import TERMINAL, Api, objects_lister
from bench._follow import Follower


class ObjectCounts(Follower):
    """Follows one plural of one namespace."""

    def __init__(self, api: Api, namespace: str, plural: str) -> None:
        super().__init__(f"{plural}-counts", objects_lister(api, namespace, plural))
        self._plural = plural
        self._states: dict[str, str | None] = {}
        self._terminal = 0
        self._finished: set[str] = set()
        """Objects with the condition Finished=True: the operator is done with them."""
        self.modified = 0
        """MODIFIED events seen: every write to an object of the namespace is one."""
        self._rewritten: set[str] = set()
        """Objects seen MODIFIED more than once (a relist may fold writes into one event, never
        make one up)."""
        self._written: set[str] = set()
        self.last_terminal_at: float | None = None
        """When the newest terminal state arrived (time.monotonic)."""

    def on_event(self, kind: str, obj: dict[str, Any], received: float) -> None:
        name = obj["metadata"]["name"]
        state = ((obj.get("status") or {}).get("state") or {}).get("type")
        with self._changed:
            if kind == "MODIFIED":
                self.modified += 1
                if name in self._written:
                    self._rewritten.add(name)
                self._written.add(name)
            before = self._states.get(name)
            if kind == "DELETED":
                self._states.pop(name, None)
                state = None
            else:
                self._states[name] = state
            self._terminal += (state in TERMINAL) - (before in TERMINAL)
            if kind != "DELETED" and _finished(obj):
                self._finished.add(name)
            else:
                self._finished.discard(name)
            if state in TERMINAL and before not in TERMINAL:
                self.last_terminal_at = time.monotonic()
            self._changed.notify_all()

    def outcomes(self) -> dict[str, int]:
        with self._changed:
            found: dict[str, int] = {}
            for state in self._states.values():
                found[state or "none"] = found.get(state or "none", 0) + 1
            return found

    def rewritten(self) -> int:
        """How many objects were written more than once since the watch began."""
        with self._changed:
            return len(self._rewritten)

    def wait_terminal(self, count: int, timeout: float) -> bool:
        """Block until `count` objects are terminal; False on timeout."""
        return self.wait_for(lambda: self._terminal >= count, timeout)

    def wait_finished(self, count: int, timeout: float) -> bool:
        """Block until the operator is done with `count` objects (condition Finished=True: a
        terminal run's infrastructure gone, nothing left to write); False on timeout."""
        return self.wait_for(lambda: len(self._finished) >= count, timeout)

    def wait_settled(self, count: int, live: float, timeout: float) -> float | str:
        """Block until `count` objects are terminal and then Finished: the seconds from
        `live` to the last one terminal, or what did not happen in time. Terminal is what the
        user sees; the operator still writes its Finished condition after that, and a
        measurement that went on before it was done would count that work as its own (on a
        loaded host an operator can look quiet while it waits for a CPU)."""
        if not self.wait_terminal(count, timeout):
            return f"not every run terminal within {timeout:.0f} s: {self.outcomes()}"
        settled = self.last_terminal_at - live if count and self.last_terminal_at else 0.0
        if not self.wait_finished(count, timeout):
            return f"the operator was not done with every run within {timeout:.0f} s"
        return settled

    def wait_seen(self, count: int, timeout: float) -> bool:
        """Block until the watch has seen `count` objects (its first listing is in)."""
        return self.wait_for(lambda: len(self._states) >= count, timeout)


def runs_per_second(runs: int, seconds: float) -> float:
    """NaN when nothing was measured (no run, no time): shown as such, never as a rate."""
    if not runs or math.isnan(seconds) or seconds <= 0:
        return math.nan
    return runs / seconds


def _finished(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Finished" and c.get("status") == "True" for c in conditions)
