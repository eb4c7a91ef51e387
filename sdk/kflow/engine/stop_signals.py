"""SIGTERM to a local flow run's process: the run ends, its hooks run, the process exits 143.

Without this, SIGTERM's default action kills the process on the spot: no final state, no
hooks, and the history shows the run RUNNING until a read finds its process gone. With it:

* a SIGTERM after a cancellation request cancels the run: it ends CANCELLED after its
  `on_cancellation` hooks. `kflow flow-run cancel --local` leaves the request as a file
  (`cancel_request_file`) before it signals; the file is read only here, on the signal, so
  the run is stopped by the signal whichever way, and the process always exits 143 (a request
  seen earlier at a task boundary would end the run before the signal came, and the process
  with it, in a way that depends on timing). A run already being cancelled in its process
  counts as requested too;
* any other SIGTERM (`kill`, a shutdown, a container stop) ends it CRASHED after its
  `on_crashed` hooks — the same distinction `kflow execute` makes from the FlowRun's
  `spec.cancel`;
* then the top-level run raises SystemExit(143) (128 + SIGTERM), so the process ends with the
  status a terminated process has, as Ctrl-C's KeyboardInterrupt ends it with 130.

Installed only while a top-level flow run runs in the main thread (where Python runs signal
handlers) and only where SIGTERM still has its default action: `kflow execute` and
applications that handle SIGTERM themselves keep their handler. Only the first SIGTERM acts; a
later one does not break into the hooks. SIGINT needs nothing here: KeyboardInterrupt already
ends the run CRASHED.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

from kflow.backend import kflow_home
from kflow.engine import cancellation
from kflow.engine.interrupts import CancelInterrupt

EXIT_STATUS = 128 + signal.SIGTERM
CRASH_REASON = (
    "Flow run process received SIGTERM without a cancellation request (`kflow flow-run cancel "
    "--local` requests one before it signals)."
)
CANCEL_REASON = "Flow run was cancelled."

_stopped: set[str] = set()
_handled = False


def cancel_request_file(flow_run_id: str) -> Path:
    """Where a cancellation request waits for the SIGTERM that follows it; holds the reason."""
    return kflow_home() / "control" / f"{flow_run_id}.cancel-on-sigterm"


def install() -> bool:
    """Handle SIGTERM for the top-level run starting in this thread; False when not ours to."""
    global _handled
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    _handled = False
    signal.signal(signal.SIGTERM, _on_sigterm)
    return True


def uninstall() -> None:
    """Back to the default action, unless someone installed their own handler meanwhile."""
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stopped_by_signal(flow_run_id: str) -> bool:
    """True once for a run that SIGTERM stopped: its process should exit with EXIT_STATUS."""
    if flow_run_id in _stopped:
        _stopped.discard(flow_run_id)
        return True
    return False


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _handled
    if _handled:
        return
    active = cancellation.active_runs()
    if not active:
        # The run ended just now: do what SIGTERM does by default.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    _handled = True
    requested: list[tuple[str, str]] = []
    for ctx in active:
        reason = _take_cancel_request(ctx.flow_run.id)
        if reason is None and ctx.control.cancel_requested:
            reason = ctx.control.reason or CANCEL_REASON
        if reason is not None:
            requested.append((ctx.flow_run.id, reason))
    if not requested:
        _stopped.update(ctx.flow_run.id for ctx in active)
        # Raises into this thread when it runs a flow body: keep it last.
        cancellation.crash_flow_run(None, CRASH_REASON)
        return
    interrupted: CancelInterrupt | None = None
    for flow_run_id, reason in requested:
        _stopped.add(flow_run_id)
        try:
            cancellation.cancel_flow_run(flow_run_id, reason)
        except CancelInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted


def _take_cancel_request(flow_run_id: str) -> str | None:
    """The reason of a pending request for this run (consumed), or None when there is none."""
    request = cancel_request_file(flow_run_id)
    try:
        reason = request.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        reason = ""
    request.unlink(missing_ok=True)
    return reason or CANCEL_REASON
