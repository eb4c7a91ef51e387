"""A Docker engine of the chaos test's own, which the test restarts for real.

Never the shared engine (tests/cluster/docker_engine.py), which other tests and sessions use:
this dockerd has its own data root, exec root, pidfile, socket, cgroup parent and bridge, and
adds no iptables rules. Its containers run on the host network, where the flow reaches the
test's API server on 127.0.0.1 as the operator does.

Its bridge is one the test creates and removes (`kfd…`), not `--bridge=none`: dockerd started
with no bridge deletes the host's `docker0` link — the shared engine's — and every `docker run`
on the shared engine afterwards failed with "could not find bridge docker0".

Its paths are short (a directory directly under /tmp): dockerd's containerd puts unix sockets
under the exec root, and a socket's path may not exceed 107 bytes.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import APIError

from tests.chaos.private_control_plane import Daemon
from tests.cluster import cgroups, docker_engine, mounts
from tests.support.waiting import wait_until


@dataclass
class PrivateDocker:
    live_restore: bool
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kfd", dir="/tmp")))
    daemon: Daemon = field(init=False)

    def __post_init__(self) -> None:
        self.cgroup_parent = f"kflow-chaos-{self.root.name}"
        self.bridge = f"kfd{self.root.name[3:11]}"  # IFNAMSIZ: at most 15 characters
        config = self.root / "daemon.json"
        config.write_text("{}\n")  # never the host's /etc/docker/daemon.json
        self.daemon = Daemon(
            "dockerd",
            docker_engine.dockerd_argv(
                self.host,
                self.root / "data",
                self.root / "x",
                self.root / "dockerd.pid",
                f"--config-file={config}",
                f"--bridge={self.bridge}",
                "--iptables=false",
                "--ip-masq=false",
                f"--cgroup-parent=/{self.cgroup_parent}",
                *(["--live-restore"] if self.live_restore else []),
            ),
            self.root / "dockerd.log",
        )

    @property
    def host(self) -> str:
        return f"unix://{self.root / 'docker.sock'}"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=60)

    def start(self) -> None:
        if not _link_exists(self.bridge):
            subprocess.run(
                ["ip", "link", "add", "name", self.bridge, "type", "bridge"],
                check=True,
                capture_output=True,
            )
        self.daemon.start()

        def answers() -> bool:
            popen = self.daemon.popen
            if popen is not None and popen.poll() is not None:
                raise RuntimeError(
                    f"the private dockerd exited with {popen.returncode}:\n"
                    + self.daemon.log_path.read_text(errors="replace")[-3000:]
                )
            return docker_engine.answers(self.host)

        wait_until("the private dockerd to answer", answers, timeout=60, interval=0.2)

    def restart(self) -> None:
        """SIGTERM (what `systemctl restart docker` sends), then the same command again."""
        self.daemon.stop()
        self.start()

    def close(self) -> None:
        """Remove every container (with live restore they outlive dockerd), stop the daemon,
        and remove what it left on the host: mounts, cgroups, files."""
        if self.daemon.running():
            with contextlib.suppress(Exception):
                engine = self.client()
                for summary in engine.api.containers(all=True):
                    with contextlib.suppress(APIError):
                        engine.api.remove_container(summary["Id"], force=True)
        self.daemon.stop()
        if _link_exists(self.bridge):
            subprocess.run(["ip", "link", "delete", self.bridge], check=False, capture_output=True)
        mounts.unmount_under(self.root)
        cgroups.remove_trees(self.cgroup_parent)
        shutil.rmtree(self.root, ignore_errors=True)


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()
