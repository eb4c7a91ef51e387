"""A Docker run whose image cannot be had, end to end: a real engine fails to pull from an
unreachable registry, and the run ends FAILED at once with the image, the engine's error and
what to do, and condition InfrastructureReady False (ErrImagePull); nothing is left behind."""

from __future__ import annotations

import docker
import pytest

from tests.e2e.launcher_support import finished
from tests.e2e.test_launcher_docker import (  # noqa: F401 - fixtures
    DockerRuns,
    containers_of,
    engine,
    leftovers,
    runs,
)
from tests.integration.conftest import Cluster, OperatorFactory

pytestmark = pytest.mark.e2e

MISSING = "registry.invalid/kflow/missing:1"


@pytest.mark.parametrize(
    ("policy", "reason", "words"),
    [
        ("IfNotPresent", "ErrImagePull", "no such host"),
        ("Never", "ErrImageNeverPull", "imagePullPolicy is Never"),
    ],
)
def test_an_image_the_engine_cannot_have_fails_the_run_naming_the_image_and_the_error(
    cluster: Cluster,
    operators: OperatorFactory,
    engine: docker.DockerClient,  # noqa: F811 - the imported fixture
    runs: DockerRuns,  # noqa: F811 - the imported fixture
    policy: str,
    reason: str,
    words: str,
) -> None:
    operators.start("--docker")
    runs.start("adds", {"a": 1, "b": 2}, image=MISSING, infrastructure={"imagePullPolicy": policy})
    run = cluster.wait_state("r", "FAILED", timeout=30)
    message = run["status"]["state"]["message"]
    assert MISSING in message and words in message, message
    conditions = {c["type"]: c for c in run["status"].get("conditions") or []}
    ready = conditions["InfrastructureReady"]
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", reason, message)
    assert "infrastructure" not in run["status"], "no container was created"
    assert not containers_of(engine, cluster.namespace)
    finished(cluster, "r")
