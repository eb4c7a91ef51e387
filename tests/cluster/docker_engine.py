"""Tier 3: a Docker engine for the Docker launcher — the user's if one runs, else our own.

Our own dockerd listens only on a unix socket under the cluster state directory; its image
store stays in the cache so images built by one session are there for the next.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.cluster import cgroups, images, mounts, network, packages, paths
from tests.cluster.processes import Managed, wait_for

DOCKERD = Managed("dockerd", lambda: f"--host=unix://{own_socket()}")
SYSTEM_SOCKET = Path("/var/run/docker.sock")
OWN_BRIDGE = "docker0"
DOCKER_CHAIN_PREFIXES = ("DOCKER",)
CGROUP_NAME = "docker"


def data_root() -> Path:
    """Image store of our dockerd: in the cache, so images survive `down`."""
    return paths.cache_root() / "docker"


def own_socket() -> Path:
    return paths.state_dir() / "docker" / "docker.sock"


def _docker_ok(host: str) -> bool:
    proc = subprocess.run(
        ["docker", "--host", host, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return proc.returncode == 0


def running_host() -> str | None:
    """DOCKER_HOST of an engine that answers: the user's, the system's, or ours."""
    candidates = [os.environ.get("DOCKER_HOST", "")]
    candidates += [f"unix://{SYSTEM_SOCKET}", f"unix://{own_socket()}"]
    for host in candidates:
        if host and _docker_ok(host):
            return host
    return None


def up() -> str:
    """Return DOCKER_HOST of a running engine, starting dockerd if none answers."""
    host = running_host()
    if host is None:
        packages.ensure_installed(("docker.io", "iptables"))
        state = paths.state_dir() / "docker"
        state.mkdir(parents=True, exist_ok=True)
        host = f"unix://{own_socket()}"
        DOCKERD.start(
            [
                "dockerd",
                f"--host={host}",
                f"--data-root={data_root()}",
                f"--exec-root={state / 'exec'}",
                f"--pidfile={state / 'dockerd.pid'}",
                "--ip=127.0.0.1",
            ]
        )
        wait_for("dockerd to answer", lambda: _docker_ok(host), timeout=60, process=DOCKERD)
    load_python_base(host)
    return host


def load_python_base(host: str) -> None:
    """Make `FROM docker.io/kflow/python-base:bookworm` resolve without a registry."""
    present = subprocess.run(
        ["docker", "--host", host, "image", "inspect", images.PYTHON_BASE_IMAGE],
        capture_output=True,
        check=False,
    )
    if present.returncode == 0:
        return
    archive = images.ensure_python_base()
    subprocess.run(
        ["docker", "--host", host, "load", "--input", str(archive)], capture_output=True, check=True
    )


def down() -> list[str]:
    """Stop our dockerd (never the user's) and remove the bridge and chains it created."""
    if not DOCKERD.stop(grace_seconds=20):
        return []
    network.remove_link(OWN_BRIDGE)
    network.remove_chains(DOCKER_CHAIN_PREFIXES, interface=OWN_BRIDGE)
    cgroups.remove_trees(CGROUP_NAME)
    # dockerd leaves its netns bind mounts and the data-root's private bind mount behind.
    mounts.unmount_under(paths.state_dir() / "docker")
    mounts.unmount_under(data_root())
    shutil.rmtree(paths.state_dir() / "docker", ignore_errors=True)
    return [DOCKERD.name]
