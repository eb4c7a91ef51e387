"""SIGTERM to a local flow run's process: the run ends, its hooks run, the process exits 143.

Without this, SIGTERM's default action kills the process on the spot: no final state, no
hooks, and the history shows the run RUNNING until a read finds its process gone. With it:

* a SIGTERM after a cancellation request (`kflow flow-run cancel --local` leaves one where the
  run's backend reads it, `Backend.poll_control`, before it signals) cancels the run: it ends
  CANCELLED after its `on_cancellation` hooks;
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
from types import FrameType

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
    for ctx in active:
        try:
            ctx.backend.poll_control(ctx.flow_run, ctx.control)
        except Exception:  # an unreadable request is no request
            continue
    requested = [ctx for ctx in active if ctx.control.cancel_requested]
    if not requested:
        _stopped.update(ctx.flow_run.id for ctx in active)
        # Raises into this thread when it runs a flow body: keep it last.
        cancellation.crash_flow_run(None, CRASH_REASON)
        return
    interrupted: CancelInterrupt | None = None
    for ctx in requested:
        _stopped.add(ctx.flow_run.id)
        try:
            cancellation.cancel_flow_run(ctx.flow_run.id, ctx.control.reason or CANCEL_REASON)
        except CancelInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted
