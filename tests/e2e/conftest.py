"""e2e fixtures for the launcher tests: the operator-core fixtures (CRDs, a fresh namespace, the
operator as a child process) from tests/integration, plus the flow images they run.

The test flows (tests/support/flows/) are baked into an image on top of the kflow runtime
image, built once per content hash on the session's Docker engine and, for Jobs, loaded into
the node's containerd.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import cluster as local_cluster
from tests.integration.conftest import (  # noqa: F401 - fixtures used by the e2e tests
    api_client,
    cluster,
    crds,
    kubectl,
    operator,
    operators,
)
from tests.support import images

FLOWS = Path(__file__).resolve().parents[1] / "support" / "flows"
KFLOW = Path(sys.executable).parent / "kflow"


@pytest.fixture(scope="session")
def flows_image(docker_engine: str) -> str:
    """The runtime image plus tests/support/flows at /flows, on the Docker engine."""
    return images.flows_image(docker_engine, FLOWS)


@pytest.fixture(scope="session")
def node_flows_image(node_cluster: Path, flows_image: str) -> str:
    """The same image in the node's containerd, for Job pods. A user's own cluster (KUBECONFIG
    set) must be able to get it by itself (e.g. `kind load docker-image`)."""
    if os.environ.get("KUBECONFIG") == str(node_cluster) and _is_local(node_cluster):
        local_cluster.load_image(flows_image)
    return flows_image


def _is_local(kubeconfig: Path) -> bool:
    from tests.cluster import paths

    return kubeconfig == paths.admin_kubeconfig()


def kflow_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the `kflow` command as a user would (KUBECONFIG from the environment)."""
    return subprocess.run(
        [str(KFLOW), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed launcher test shows what its operators logged (their files go with tmp_path)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    factory = getattr(item, "funcargs", {}).get("operators")
    for index, started in enumerate(getattr(factory, "started", [])):
        report.sections.append((f"operator {index} log (tail)", started.log()[-6000:]))
