"""Supervising FlowRuns: one Supervisor per run that still needs the operator.

- dispatcher.py: starts, feeds and stops the supervisors from the operator's own FlowRun watch;
- supervisor.py: the loop (observe, decide, carry out, sleep) and the effects of each action;
- finalizers.py: the run's finalizer, on only while it may have infrastructure;
- take_down.py: the infrastructure of a deleted run goes with it.

What each action writes and announces is decided in decisions/run_writes.py.
"""
