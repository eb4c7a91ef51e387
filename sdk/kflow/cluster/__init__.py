"""The flow's own side of a cluster run: reading its FlowRun, reporting to its status, obeying
its spec (cancel, pause), and the `kflow` CLI's view of runs in a cluster.

Nothing here is imported by the plain local SDK path, so `python my_flow.py` never needs a
cluster or the kubernetes client to be configured.
"""
