"""What the dashboard's browser tests share: a Deployment of the `gated` flow whose runs move
from state to state only when the test says so, so that every state can be seen in the page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kflow.cli.flow_signature import load_flow_function, parameter_schema

from tests.integration.conftest import FLOWS, Cluster

KFLOW = Path(sys.executable).parent / "kflow"
GATED = "dashboard_flows.py:gated"
LIVE_SECONDS = 1.0
"""How soon a change the API server has must show in an open page."""


def gate_command(marks: Path) -> list[str]:
    """`kflow execute` started only once the mark file `launch` exists (at most 2 minutes
    later), so the run stays PENDING until the test creates it."""
    wait = (
        'i=0; while [ ! -e "$TEST_MARKS/launch" ] && [ $i -lt 2400 ]; '
        "do sleep 0.05; i=$((i+1)); done"
    )
    return ["/bin/sh", "-c", f'{wait}; exec "{KFLOW}" execute']


def gated_deployment(cluster: Cluster, marks: Path, name: str, **spec: Any) -> None:
    """A Deployment of the gated flow with the parameter schema `kflow deploy` would write."""
    schema = parameter_schema(load_flow_function(GATED, FLOWS))
    cluster.deployment(
        name,
        {
            "entrypoint": GATED,
            "parameterSchema": schema,
            "infrastructure": {
                "type": "process",
                "command": gate_command(marks),
                "env": {"TEST_MARKS": str(marks), "KFLOW_HOME": str(marks.parent / "home")},
                "process": {"workingDirectory": str(FLOWS)},
            },
            **spec,
        },
    )
