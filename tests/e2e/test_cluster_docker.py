"""Tier 3: the Docker engine builds FROM our base image and runs it; the node runs it too."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import cluster, paths
from tests.cluster.images import PYTHON_BASE_IMAGE
from tests.cluster.kubectl import Kubectl

pytestmark = pytest.mark.e2e


def _docker(host: str, *args: str, timeout: float = 300) -> str:
    proc = subprocess.run(
        ["docker", "--host", host, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"docker {' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def local_image(docker_engine: str, tmp_path: Path) -> Iterator[str]:
    """An image built here, FROM the Python base image, that prints a greeting."""
    name = f"docker.io/kflow-test/hello:{uuid.uuid4().hex[:8]}"
    (tmp_path / "hello.py").write_text("print('hello from a locally built image')\n")
    (tmp_path / "Dockerfile").write_text(
        f'FROM {PYTHON_BASE_IMAGE}\nCOPY hello.py /hello.py\nCMD ["python", "/hello.py"]\n'
    )
    _docker(docker_engine, "build", "--tag", name, str(tmp_path))
    yield name
    _docker(docker_engine, "image", "rm", "--force", name)


def test_docker_runs_a_container_from_a_locally_built_image(
    docker_engine: str, local_image: str
) -> None:
    output = _docker(docker_engine, "run", "--rm", local_image, timeout=120)
    assert output.strip() == "hello from a locally built image"


def test_load_image_makes_a_docker_image_runnable_on_the_node(
    node_cluster: Path, local_image: str
) -> None:
    if node_cluster != paths.admin_kubeconfig():
        pytest.skip("load-image targets the local node; on kind use `kind load docker-image`")
    cluster.load_image(local_image)
    admin = Kubectl(node_cluster)
    pod = f"loaded-{uuid.uuid4().hex[:8]}"
    admin.run("run", pod, f"--image={local_image}", "--image-pull-policy=Never", "--restart=Never")
    try:
        admin.run(
            "wait",
            f"pod/{pod}",
            "--for=jsonpath={.status.phase}=Succeeded",
            "--timeout=120s",
            timeout=130,
        )
        assert admin.run("logs", pod).strip() == "hello from a locally built image"
    finally:
        admin.run("delete", "pod", pod, "--wait=false")
