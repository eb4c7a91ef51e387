"""The run engine: what happens when a flow or task is called.

This package imports nothing itself, so a part of the engine (the cancellation registry, the
pause) can be imported without loading all of it. Entry points for other parts of kflow:

* `kflow.engine.flow_calls.run_flow(flow, parameters, flow_run_id=..., flow_run_name=...,
  backend=...)` — run a flow as a given, pre-existing run (`kflow execute`); returns the final
  State.
* `kflow.engine.cancellation.cancel_flow_run(flow_run_id=None, reason=None)` — cancel running
  flow runs of this process from a signal handler, another thread or a backend's watcher.
* `kflow.engine.cancellation.crash_flow_run(flow_run_id=None, reason=None)` — the same
  interruption, ending CRASHED (a stop signal that was no cancellation request).
"""
