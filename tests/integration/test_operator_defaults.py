"""The defaults a platform engineer gives the operator (chart values `defaults.*`): the image
of container runs that name none, and the cancel grace period of runs that set none."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Cluster, OperatorFactory

pytestmark = pytest.mark.integration


def test_a_job_run_with_no_image_anywhere_fails_naming_the_field_and_the_flag(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operators.start("--launchers", "kubernetes-job")
    cluster.deployment(
        "d", {"entrypoint": "flows.py:main", "infrastructure": {"type": "kubernetes-job"}}
    )
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "FAILED")
    message = run["status"]["state"]["message"]
    for remedy in ("spec.infrastructure.image", "--default-image", "defaults.image"):
        assert remedy in message, message
    assert "infrastructure" not in run["status"], "nothing was started"
