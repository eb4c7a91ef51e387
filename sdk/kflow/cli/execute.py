"""`kflow execute`: run the FlowRun named by KFLOW_FLOW_RUN_NAMESPACE / KFLOW_FLOW_RUN_NAME.

The entry command of every run's infrastructure (process, container, Job); users rarely type
it. The implementation (and the kubernetes client) is imported only when it runs.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "execute",
        help="run the FlowRun named by KFLOW_FLOW_RUN_NAMESPACE/KFLOW_FLOW_RUN_NAME (what "
        "every infrastructure runs)",
        description="Run one FlowRun in this process: read it and its Deployment, load the "
        "entrypoint relative to the working directory, validate the parameters, run the flow "
        "and report to the FlowRun status. Kubernetes access: in-cluster config, else "
        "KUBECONFIG. Exit status 0 when the run completed (or was suspended to be resumed).",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from kflow.cluster.flowrun_process import execute

    return execute()
