"""kflow: Prefect-style flows that run locally or natively on Kubernetes.

from kflow import flow, task, get_run_logger, pause_flow_run, resume_flow_run
"""

from kflow.flows import Flow, flow
from kflow.futures import TaskRunFuture, allow_failure, unmapped
from kflow.logging import get_run_logger
from kflow.pause import pause_flow_run, resume_flow_run
from kflow.states import State
from kflow.tasks import Task, task

__all__ = [
    "Flow",
    "State",
    "Task",
    "TaskRunFuture",
    "allow_failure",
    "flow",
    "get_run_logger",
    "pause_flow_run",
    "resume_flow_run",
    "task",
    "unmapped",
]
