"""Information about the run the current code executes in: `kflow.runtime.flow_run.name`…

Outside a run the attributes are empty (None, {} or []), so code such as a `flow_run_name`
callable can use them without checking first.
"""

from kflow.runtime import deployment, flow_run, task_run

__all__ = ["deployment", "flow_run", "task_run"]
