"""The flow's own side of a cluster run: reading its FlowRun, reporting to its status, obeying
its spec (cancel, pause), and the `kflow` CLI's view of runs in a cluster.

Nothing here is imported by the plain local SDK path, so `python my_flow.py` never needs a
cluster or the kubernetes client to be configured. The flow process's own path (`kflow
execute`: flowrun_process, backend, status_writer, control, flowrun_api) never imports the
`kubernetes` package either — it talks through `rest.py` with credentials from `credentials.py`
— because that import alone costs about half a CPU-second per run; the CLI commands may use it
(through kubernetes_client.py).

What the flow process (`kflow execute`) writes — always a merge patch of the status
subresource carrying the resourceVersion it decided on, re-decided after a 409:

- `state`, `stateHistory` (last 30): the flow run's states as the engine proposes them, each
  accepted only if `kflow.transitions.check_transition` accepts it against the state the API
  server has (so an operator's CANCELLING is never replaced by RUNNING or COMPLETED). PENDING
  only when the FlowRun has no state yet (a FlowRun run without an operator).
- `startTime` (first RUNNING), `endTime` (an accepted terminal state), `runCount` (+1 on each
  RUNNING entered from anything but RUNNING/PAUSED), `runName`, `flowName`.
- `taskRuns`: `total`, `counts` (every state type, exact), `recent` (20 most recently changed),
  counting every task run of the process including subflow mirrors and their task runs;
  written at most every 0.5 s and at the end.
- `result`: `value` when its JSON is at most 16 KiB, else `reference` (the persisted pickle's
  path under $KFLOW_HOME/results); always `summary` (a short repr).
- `pause`: `{reschedule, timeoutTime, key: null}` for the latest pause.

And the spec: `spec.paused` true when the flow pauses itself (so that false resumes it), false
on `resume_flow_run()`; never `spec.cancel`.

What the operator must do for `pause_flow_run(reschedule=True)`: the process writes
`pause.reschedule: true` with `timeoutTime`, sets `spec.paused: true`, writes PAUSED named
`Suspended`, and exits 0. That exit is not a crash. When `spec.paused` becomes false, launch
the run again (PENDING with the new identifier, as for a first launch); the new process finds
the same FlowRun UID, so the engine's suspension markers and persisted task results (under
$KFLOW_HOME/results: the same host for process runs, a persistent volume for containers) let
it continue after the pause. When `timeoutTime` passes first, mark the run FAILED. Cancelling a
suspended run needs no process to stop.

Exit status of `kflow execute`: 0 COMPLETED or Suspended, 1 any other end, 2 FlowRun unreadable.
"""
