"""The run engine: what happens when a flow or task is called.

Public entry points for other parts of kflow:

* `run_flow(flow, parameters, flow_run_id=..., flow_run_name=..., backend=...)` — run a flow as
  a given, pre-existing run (`kflow execute`); returns the final State.
* `cancel_flow_run(flow_run_id=None, reason=None)` — cancel running flow runs of this process
  from a signal handler, another thread or a backend's watcher.
* `crash_flow_run(flow_run_id=None, reason=None)` — the same interruption, ending CRASHED
  (a stop signal that was no cancellation request).
"""

from kflow.engine.cancellation import cancel_flow_run, crash_flow_run
from kflow.engine.flow_calls import run_flow

__all__ = ["cancel_flow_run", "crash_flow_run", "run_flow"]
