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


def answers(host: str) -> bool:
    """Whether the engine at `host` (a DOCKER_HOST URL) serves its API."""
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
        if host and answers(host):
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
            dockerd_argv(host, data_root(), state / "exec", state / "dockerd.pid", "--ip=127.0.0.1")
        )
        wait_for("dockerd to answer", lambda: answers(host), timeout=60, process=DOCKERD)
    load_python_base(host)
    return host


def dockerd_argv(host: str, data: Path, exec_root: Path, pidfile: Path, *extra: str) -> list[str]:
    """`dockerd` with every place it writes named, so several engines share one machine."""
    return [
        "dockerd",
        f"--host={host}",
        f"--data-root={data}",
        f"--exec-root={exec_root}",
        f"--pidfile={pidfile}",
        *extra,
    ]


def copy_image(name: str, source_host: str, target_host: str) -> None:
    """`docker save NAME | docker load` from one engine into another (no registry needed)."""
    save = subprocess.Popen(
        ["docker", "--host", source_host, "save", name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert save.stdout is not None
    loaded = subprocess.run(
        ["docker", "--host", target_host, "load"],
        stdin=save.stdout,
        capture_output=True,
        check=False,
    )
    save.stdout.close()
    _, save_err = save.communicate()
    if save.returncode != 0 or loaded.returncode != 0:
        raise RuntimeError(
            f"copying image {name} from {source_host} to {target_host} failed: "
            f"{save_err.decode(errors='replace')}{loaded.stderr.decode(errors='replace')}"
        )


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
