"""`kflow-operator --launchers`: a platform engineer chooses where runs may execute; a run
asking for anything else ends FAILED saying which launchers this operator has."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Cluster, OperatorFactory
from tests.integration.test_flowrun_lifecycle import shell_deployment

pytestmark = pytest.mark.integration


def test_a_process_only_operator_refuses_job_runs_and_still_runs_processes(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operators.start("--launchers", "process")
    cluster.deployment(
        "jobs",
        {
            "entrypoint": "flows.py:main",
            "infrastructure": {"type": "kubernetes-job", "image": "registry.example/flows:1"},
        },
    )
    shell_deployment(cluster, "local", "exit 3")
    cluster.flowrun("job-run", {"deploymentRef": {"name": "jobs"}})
    cluster.flowrun("process-run", {"deploymentRef": {"name": "local"}})
    refused = cluster.wait_state("job-run", "FAILED")["status"]["state"]["message"]
    assert "cannot run infrastructure type 'kubernetes-job' (enabled: process)" in refused
    assert "infrastructure" not in cluster.get_flowrun("job-run")["status"], "nothing started"
    crashed = cluster.wait_state("process-run", "CRASHED")["status"]["state"]["message"]
    assert "exited with code 3" in crashed


def test_an_operator_without_the_process_launcher_runs_no_process_on_its_host(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operators.start("--launchers", "kubernetes-job")
    shell_deployment(cluster, "local", "exit 0")
    cluster.flowrun("r", {"deploymentRef": {"name": "local"}})
    run = cluster.wait_state("r", "FAILED")
    assert (
        "cannot run infrastructure type 'process' (enabled: kubernetes-job)"
        in (run["status"]["state"]["message"])
    )
    assert "infrastructure" not in run["status"]
