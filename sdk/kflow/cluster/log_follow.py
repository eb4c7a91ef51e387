"""`kflow flow-run logs -f` before there is output to follow: wait until the run's
infrastructure has started the flow, saying on stderr what the run waits for (its state and
message: the operator writes why a pod or container has not started), or stop when the run ends
without ever starting.

Started with a run that was just created, `-f` waits for its launch; on a Job's run, for its pod
to run (the pod log API refuses a container that has not started). Ctrl-C stops it at any time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from kflow.states import TERMINAL_STATE_TYPES

STATE_CHECK_SECONDS = 1.0

FlowRunReader = Callable[[], Mapping[str, Any]]


def run_is_over(obj: Mapping[str, Any]) -> bool:
    status = obj.get("status") or {}
    state_type = (status.get("state") or {}).get("type")
    infrastructure = status.get("infrastructure") or {}
    return state_type in TERMINAL_STATE_TYPES or "exitCode" in infrastructure


def launched(obj: Mapping[str, Any]) -> bool:
    """The run's infrastructure is recorded, with its log file for a process."""
    infrastructure = (obj.get("status") or {}).get("infrastructure") or {}
    kind = infrastructure.get("type")
    return bool(kind) and (kind != "process" or bool(infrastructure.get("logPath")))


class Notes:
    """What `-f` tells the user on stderr while it waits: one line per change."""

    def __init__(self, name: str, out: TextIO) -> None:
        self._name = name
        self._out = out
        self._last = ""

    def waiting(self, obj: Mapping[str, Any]) -> None:
        self._say(f"waiting for FlowRun {self._name} to start: {_state_words(obj)}")

    def ended(self, obj: Mapping[str, Any]) -> None:
        self._say(f"FlowRun {self._name} ended before its flow started: {_state_words(obj)}")

    def _say(self, line: str) -> None:
        if line != self._last:
            self._last = line
            print(line, file=self._out, flush=True)


def wait_for_launch(read: FlowRunReader, notes: Notes) -> Mapping[str, Any] | None:
    """The run once its infrastructure is recorded; None when it ended without any."""
    while True:
        obj = read()
        if launched(obj):
            return obj
        if run_is_over(obj):
            notes.ended(obj)
            return None
        notes.waiting(obj)
        time.sleep(STATE_CHECK_SECONDS)


def wait_for_start(
    started: Callable[[], str | None], read: FlowRunReader, notes: Notes
) -> str | None:
    """What `started` returns (e.g. the pod whose flow container runs) once it returns one;
    None when the run ends first."""
    while True:
        found = started()
        if found is not None:
            return found
        obj = read()
        if run_is_over(obj):
            found = started()  # it may have run and ended between the two reads
            if found is None:
                notes.ended(obj)
            return found
        notes.waiting(obj)
        time.sleep(STATE_CHECK_SECONDS)


def _state_words(obj: Mapping[str, Any]) -> str:
    state = (obj.get("status") or {}).get("state") or {}
    kind = state.get("type") or "no state yet"
    message = state.get("message")
    return f"{kind} ({message})" if message else str(kind)
