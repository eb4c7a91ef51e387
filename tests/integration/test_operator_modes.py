"""Operator command-line modes a platform engineer picks: a single standalone replica, and JSON
logs (the chart's `logging.format`)."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import Cluster, OperatorFactory, wait_until
from tests.integration.test_flowrun_lifecycle import shell_deployment

pytestmark = pytest.mark.integration


def test_a_standalone_operator_with_json_logs_runs_a_flow(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operator = operators.start("--standalone", "--log-format", "json")
    shell_deployment(cluster, "d", "exit 3")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "CRASHED")
    assert "exited with code 3" in run["status"]["state"]["message"]

    def logged_about_the_run() -> bool:
        for line in operator.log().splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("object", {}).get("name") == "r":
                return True
        return False

    wait_until("a JSON log line naming the FlowRun", logged_about_the_run)
