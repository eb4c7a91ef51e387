"""`kflow flow-run cancel|resume|logs --local`: controlling the runs of this machine.

Every command takes a run as `inspect` does: its id, a unique start of it, or its name.

`cancel` works like a cluster cancel (design.md §5a) with this command as the operator: it records
the request (CANCELLING in the history, and the request file the run's SIGTERM handler reads,
kflow.engine.stop_signals), then sends SIGTERM to the run's process — the process recorded
with the run, by PID plus start time, never another program that got its PID since. The
process tells the request from a plain SIGTERM and ends the run CANCELLED after its
on_cancellation hooks, exiting 143. A process still there after `--grace-period` seconds (one
that handles SIGTERM itself, or is stuck in C code) is killed; the history then records the run
CANCELLED (a cancelled run whose process is gone).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kflow import processes
from kflow.exceptions import KflowException

if TYPE_CHECKING:
    from kflow.history.queries import FlowRunRecord, History

POLL_SECONDS = 0.1
KILL_WAIT_SECONDS = 10.0
CANCEL_REASON = "Cancelled by `kflow flow-run cancel --local`."


class CannotControlRun(KflowException, RuntimeError):
    """The run exists but this command cannot act on it (ended, elsewhere, unidentifiable)."""


def _label(run: FlowRunRecord) -> str:
    return f"flow run {run.name!r} ({run.id})"


# -- cancel ------------------------------------------------------------------------------------
def flow_run_cancel(args: argparse.Namespace) -> int:
    from kflow.history.queries import History

    history = History.at()
    run = history.flow_run(args.id)
    process = _signalable_process(run)
    request = _record_request(history, run)
    try:
        if processes.signal_process(process, signal.SIGTERM):
            print(f"Cancelling {_label(run)}: SIGTERM sent to its process {run.pid}")
            run = _wait_for_end(history, run, process, args.grace_period)
        else:
            run = history.flow_run(run.id)  # gone meanwhile: the read records its end
    finally:
        request.unlink(missing_ok=True)
    state = run.state
    if state is not None and state.type == "CANCELLED":
        print(f"Flow run {run.name!r} is CANCELLED")
        return 0
    shown = f"{state.type}: {state.message}" if state is not None else "no state"
    print(f"error: {_label(run)} ended {shown}", file=sys.stderr)
    return 1


def _signalable_process(run: FlowRunRecord) -> processes.ProcessId:
    """The run's process, if this command may signal it; else say why not and what to do."""
    if run.final:
        assert run.state is not None
        raise CannotControlRun(
            f"{_label(run)} already ended ({run.state.type}); there is nothing to cancel."
        )
    if run.parent_flow_run_id is not None:
        raise CannotControlRun(
            f"{_label(run)} is a subflow run: it runs in its parent's process and stops with "
            f"it. Cancel the parent: kflow flow-run cancel --local {run.parent_flow_run_id}"
        )
    if run.hostname != socket.gethostname():
        raise CannotControlRun(
            f"{_label(run)} runs on host {run.hostname!r}, not this one; cancel it there (a "
            "process can only be signalled on its own machine)."
        )
    process = run.process
    if process is None or not processes.proc_available():
        raise CannotControlRun(
            f"{_label(run)} was recorded without its process start time (by an older kflow, "
            f"or where /proc is missing), so process {run.pid} cannot be told apart from a "
            "later one with the same PID; stop the run in its terminal (Ctrl-C)."
        )
    return process


def _record_request(history: History, run: FlowRunRecord) -> Path:
    """The request file the run's process reads on SIGTERM, then CANCELLING in the history."""
    from kflow.engine.stop_signals import cancel_request_file
    from kflow.history.queries import HistoryState

    request = cancel_request_file(run.id)
    request.parent.mkdir(parents=True, exist_ok=True)
    request.write_text(CANCEL_REASON)
    for _ in range(5):  # the run's process may write a state between the read and the write
        if run.final or (run.state is not None and run.state.type == "CANCELLING"):
            break
        cancelling = HistoryState("CANCELLING", "Cancelling", CANCEL_REASON, time.time())
        seen = run.state.type if run.state is not None else None
        if history.record_state(run.id, cancelling, seen=seen):
            break
        run = history.flow_run(run.id)
    return request


def _wait_for_end(
    history: History, run: FlowRunRecord, process: processes.ProcessId, grace: float
) -> FlowRunRecord:
    """The run once final: within the grace period, or after its process was killed."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        run = history.flow_run(run.id)
        if run.final:
            return run
        time.sleep(POLL_SECONDS)
    print(
        f"Process {run.pid} did not stop within {grace:g} s of SIGTERM: killing it",
        file=sys.stderr,
    )
    processes.signal_process(process, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while processes.is_alive(process) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    return history.flow_run(run.id)


# -- resume ------------------------------------------------------------------------------------
def flow_run_resume(args: argparse.Namespace) -> int:
    """Resume a run paused in another local process (the local backend's resume flag)."""
    from kflow.history.queries import History
    from kflow.pause import resume_flow_run

    run = History.at().flow_run(args.id)
    if run.state is None or run.state.type != "PAUSED":
        raise CannotControlRun(
            f"{_label(run)} is not paused (state {run.state.type if run.state else 'none'}); "
            "only a PAUSED run can be resumed."
        )
    resume_flow_run(run.id)
    print(f"Resumed {_label(run)}")
    return 0


# -- logs --------------------------------------------------------------------------------------
FOLLOW_POLL_SECONDS = 0.5
SETTLE_SECONDS = 1.5
"""After a followed run is final: how long no new line must come before `-f` stops (its
process writes the lines of its final hooks up to a second after the final state)."""


def flow_run_logs(args: argparse.Namespace) -> int:
    """Print the run's kept log lines (kflow.history.run_logs); `-f` until the run ends."""
    from kflow.history.queries import History

    history = History.at()
    run = history.flow_run(args.id)
    printed = _PrintedLines()
    printed.print_new(history, run.id)
    if not args.follow:
        if not printed.count:
            print(f"No log lines in the local history for {_label(run)}.", file=sys.stderr)
        return 0
    quiet_since: float | None = None
    while True:
        final = history.flow_run(run.id).final
        new = printed.print_new(history, run.id)
        now = time.monotonic()
        if new or not final:
            quiet_since = now if final else None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= SETTLE_SECONDS:
            return 0
        time.sleep(FOLLOW_POLL_SECONDS)


class _PrintedLines:
    """Which of a run's numbered lines were printed. Threads of the run number their lines
    before they queue them, so line n may reach the history a batch after line n + 1: each
    read starts after the lines printed without a gap and skips the ones already printed."""

    def __init__(self) -> None:
        self.count = 0
        self._through = 0  # every line up to this one is printed
        self._beyond: set[int] = set()

    def print_new(self, history: History, flow_run_id: str) -> int:
        """Print the lines not printed yet, in order; how many."""
        new = 0
        for line in history.logs(flow_run_id, self._through):
            if line.line in self._beyond:
                continue
            print(line.format(), flush=True)
            new += 1
            self._beyond.add(line.line)
            while self._through + 1 in self._beyond:
                self._through += 1
                self._beyond.discard(self._through)
        self.count += new
        return new
