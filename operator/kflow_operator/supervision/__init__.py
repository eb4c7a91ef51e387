"""Supervising FlowRuns: one Supervisor per run that still needs the operator
(handlers/flowruns.py starts it as a Kopf daemon).

- supervisor.py: the loop (observe, decide, carry out, sleep) and the effects of each action;
- take_down.py: the infrastructure of a deleted run goes with it.

What each action writes and announces is decided in decisions/run_writes.py.
"""
