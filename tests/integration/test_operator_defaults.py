"""The defaults a platform engineer gives the operator (chart values `defaults.*`): the image
of container runs that name none, and the cancel grace period of runs that set none."""

from __future__ import annotations

from datetime import datetime

import pytest
from kubernetes import client

from tests.integration.conftest import Cluster, OperatorFactory
from tests.integration.test_flowrun_cancel import IGNORES_SIGTERM, started
from tests.integration.test_flowrun_lifecycle import shell_deployment

pytestmark = pytest.mark.integration


def start_job_run_without_image(cluster: Cluster) -> None:
    """FlowRun `r` of Deployment `d`, a Job run that names no image (only the operator may)."""
    cluster.deployment(
        "d", {"entrypoint": "flows.py:main", "infrastructure": {"type": "kubernetes-job"}}
    )
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})


def test_a_job_run_with_no_image_anywhere_fails_naming_the_field_and_the_flag(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operators.start("--launchers", "kubernetes-job")
    start_job_run_without_image(cluster)
    run = cluster.wait_state("r", "FAILED")
    message = run["status"]["state"]["message"]
    for remedy in ("spec.infrastructure.image", "--default-image", "defaults.image"):
        assert remedy in message, message
    assert "infrastructure" not in run["status"], "nothing was started"


def test_a_job_run_with_no_image_runs_the_operators_default_image(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operators.start("--launchers", "kubernetes-job", "--default-image", "registry.example/f:1")
    start_job_run_without_image(cluster)
    run = cluster.wait_state("r", "PENDING", "RUNNING", "CRASHED")
    assert run["status"]["infrastructure"]["type"] == "kubernetes-job"
    jobs = client.BatchV1Api(cluster.core.api_client).list_namespaced_job(cluster.namespace)
    (job,) = jobs.items
    assert job.spec is not None and job.spec.template.spec is not None
    images = {c.image for c in job.spec.template.spec.containers}
    assert images == {"registry.example/f:1"}


def test_the_operators_default_grace_period_applies_when_no_run_sets_one(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operators.start("--default-grace-period", "2")
    shell_deployment(cluster, "d", IGNORES_SIGTERM)
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    started(cluster, "r")
    cluster.cancel("r")
    run = cluster.wait_state("r", "CANCELLED", timeout=10)
    steps = run["status"]["cancellation"]
    assert steps["gracePeriodSeconds"] == 2
    stop = datetime.fromisoformat(steps["stopTime"])
    kill = datetime.fromisoformat(steps["killTime"])
    grace = (kill - stop).total_seconds()
    assert 1.9 <= grace <= 3.0, f"killed {grace:.2f}s after SIGTERM, default grace period 2s"
