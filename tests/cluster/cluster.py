"""The tiers as one object model: what `up`, `down` and `status` do for each.

Tiers: `control-plane` (etcd + API server + controller-manager + scheduler), `node` (adds
containerd, CNI, kubelet, kube-proxy; implies the control plane), `docker` (a Docker engine),
`all` (node + docker).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster import (
    control_plane,
    docker_engine,
    host_files,
    images,
    k8s_build,
    mounts,
    network,
    node,
    packages,
    paths,
    topology,
)
from tests.cluster.processes import Managed, processes_with

TIERS = ("control-plane", "node", "docker", "all")
ALL_PROCESSES: tuple[Managed, ...] = (
    *control_plane.PROCESSES,
    *node.PROCESSES,
    docker_engine.DOCKERD,
)


@dataclass
class UpResult:
    kubeconfig: Path | None = None
    docker_host: str | None = None


def prepare(tier: str = "all") -> None:
    """The slow, cacheable part of `up`: packages, binaries, images — no daemons started.

    The Go build is CPU-bound and debootstrap is network-bound, so they run side by side.
    """
    _check_tier(tier)
    packages.ensure_installed()
    packages.etcd_binary()
    jobs: list[Callable[[], object]] = []
    if tier != "docker":
        components = (
            k8s_build.CONTROL_PLANE_COMPONENTS
            if tier == "control-plane"
            else k8s_build.ALL_COMPONENTS
        )
        jobs.append(lambda: k8s_build.ensure_built(components))
    if tier != "control-plane":
        jobs += [images.ensure_pause, images.ensure_python_base]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def up(tier: str = "all") -> UpResult:
    _check_tier(tier)
    prepare(tier)
    result = UpResult()
    if tier in ("control-plane",):
        result.kubeconfig = control_plane.up()
    if tier in ("node", "all"):
        node.up()
        result.kubeconfig = paths.admin_kubeconfig()
    if tier in ("docker", "all"):
        result.docker_host = docker_engine.up()
    return result


def down(tier: str = "all") -> list[str]:
    """Stop the tier (and what depends on it); return the names of the daemons stopped."""
    _check_tier(tier)
    stopped: list[str] = []
    if tier in ("docker", "all"):
        stopped += docker_engine.down()
    if tier in ("node", "control-plane", "all"):
        stopped += node.down()
    if tier in ("control-plane", "all"):
        stopped += control_plane.down()
    if not any(p.running() for p in ALL_PROCESSES):
        network.remove_link(topology.DUMMY_INTERFACE)
        shutil.rmtree(paths.state_dir(), ignore_errors=True)
    return stopped


@dataclass
class Status:
    processes: dict[str, int | None] = field(default_factory=dict)
    apiserver_ready: bool = False
    node_ready: bool = False
    docker_host: str | None = None
    links: list[str] = field(default_factory=list)
    chains: dict[str, list[str]] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)
    host_files: list[str] = field(default_factory=list)

    def leftovers(self) -> list[str]:
        """What a full `down` should have removed but is still there."""
        found = [f"process {name} (pid {pid})" for name, pid in self.processes.items() if pid]
        found += [f"process {stray}" for stray in self.strays]
        found += [f"file {path}" for path in self.host_files]
        found += [f"link {name}" for name in self.links]
        found += [f"{t} chain {c}" for t, chains in self.chains.items() for c in chains]
        found += [f"mount {m}" for m in self.mounts]
        found += [f"cgroup {c}" for c in self.cgroups]
        return found


def status() -> Status:
    result = Status(processes={p.name: p.pid() if p.running() else None for p in ALL_PROCESSES})
    if result.processes.get(control_plane.APISERVER.name):
        result.apiserver_ready = control_plane.apiserver_ready()
    if result.processes.get(node.KUBELET.name) and result.apiserver_ready:
        result.node_ready = node.node_ready()
    if result.processes.get(docker_engine.DOCKERD.name):
        result.docker_host = f"unix://{docker_engine.own_socket()}"
    result.links = network.owned_links()
    result.chains = network.owned_chains()
    result.mounts = mounts.under(paths.state_dir())
    if not result.processes[docker_engine.DOCKERD.name]:
        result.mounts += mounts.under(docker_engine.data_root())
    result.cgroups = node.owned_cgroups()
    if not result.processes[node.KUBELET.name]:
        result.host_files = host_files.owned(node.node_dir())
    result.strays = _stray_processes({pid for pid in result.processes.values() if pid})
    return result


def _stray_processes(tracked: set[int]) -> list[str]:
    """Untracked processes serving our daemons: containerd shims, dockerd's own containerd.

    Recognised by an argument naming one of our sockets or configs exactly, so clients that
    merely mention our paths (e.g. `--docker-host unix://…`) are not counted.
    """
    docker_containerd = paths.state_dir() / "docker" / "exec" / "containerd"
    markers = (
        str(node.containerd_socket()),
        str(docker_containerd / "containerd.sock"),
        str(docker_containerd / "containerd.toml"),
    )
    strays = []
    for pid in sorted({pid for marker in markers for pid in processes_with(marker)} - tracked):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        strays.append(f"{pid} {command}")
    return strays


def load_image(name: str) -> None:
    """Copy an image from the Docker engine into the node's containerd (`kind load`)."""
    host = docker_engine.running_host()
    if host is None:
        raise RuntimeError(
            "no Docker engine answers; run `python -m tests.cluster up --tier docker`"
        )
    if not node.CONTAINERD.running():
        raise RuntimeError("the node is not up; run `python -m tests.cluster up --tier node`")
    save = subprocess.Popen(
        ["docker", "--host", host, "save", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert save.stdout is not None
    imported = subprocess.run(
        [
            "ctr",
            "--address",
            str(node.containerd_socket()),
            "--namespace",
            "k8s.io",
            "images",
            "import",
            "-",
        ],
        stdin=save.stdout,
        capture_output=True,
        check=False,
    )
    save.stdout.close()
    _, save_err = save.communicate()
    if save.returncode != 0:
        raise RuntimeError(f"docker save {name} failed: {save_err.decode(errors='replace')}")
    if imported.returncode != 0:
        raise RuntimeError(
            f"ctr images import of {name} failed: {imported.stderr.decode(errors='replace')}"
        )


def _check_tier(tier: str) -> None:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
