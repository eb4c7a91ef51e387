"""kflow: Prefect-style flows that run locally or natively on Kubernetes.

from kflow import flow, task, get_run_logger, pause_flow_run, resume_flow_run

A Prefect name kflow does not have (`get_client`, `tags`, ...) raises, at
the import, a NotSupportedError saying what to use instead (docs/porting.md).
"""

from typing import TYPE_CHECKING

from kflow.context import get_run_context
from kflow.deployments import arun_deployment, aserve, deploy, run_deployment, serve
from kflow.flows import Flow, flow
from kflow.futures import TaskRunFuture, allow_failure, unmapped
from kflow.logging import get_run_logger
from kflow.pause import pause_flow_run, resume_flow_run
from kflow.states import State
from kflow.tasks import Task, task
from kflow.unsupported import module_getattr

__all__ = [
    "Flow",
    "State",
    "Task",
    "TaskRunFuture",
    "allow_failure",
    "arun_deployment",
    "aserve",
    "deploy",
    "flow",
    "get_run_context",
    "get_run_logger",
    "pause_flow_run",
    "resume_flow_run",
    "run_deployment",
    "serve",
    "task",
    "unmapped",
]

if not TYPE_CHECKING:  # Prefect names kflow lacks: a clear error, not "no attribute"
    __getattr__ = module_getattr(__name__)
