"""Files the kubelet and containerd write outside our state directory, at fixed host paths.

The kubelet links container logs from /var/log/containers and opens its device-plugin socket
under /var/lib/kubelet; containerd's CNI library caches results in /var/lib/cni/results and
runc keeps state under /run/containerd. `down` removes exactly our entries (by link target
or our CNI network name) and then only directories left empty.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from tests.cluster import topology

CONTAINER_LOG_LINKS = Path("/var/log/containers")
CNI_RESULTS = Path("/var/lib/cni/results")
KUBELET_HOST_DIR = Path("/var/lib/kubelet")
CONTAINERD_RUN_DIR = Path("/run/containerd")


def owned(node_dir: Path) -> list[str]:
    """Our remnants at those host paths (empty after a complete `down`)."""
    found = [
        str(link)
        for link in (CONTAINER_LOG_LINKS.iterdir() if CONTAINER_LOG_LINKS.is_dir() else [])
        if link.is_symlink() and str(link.readlink()).startswith(str(node_dir) + "/")
    ]
    if CNI_RESULTS.is_dir():
        found += [str(p) for p in CNI_RESULTS.glob(f"{topology.CNI_NETWORK}-*")]
    return found


def remove(node_dir: Path, sandbox_ids: list[str]) -> None:
    for path in owned(node_dir):
        Path(path).unlink(missing_ok=True)
    for sandbox in sandbox_ids:
        (CNI_RESULTS / f"cni-loopback-{sandbox}-lo").unlink(missing_ok=True)
    device_plugins = KUBELET_HOST_DIR / "device-plugins"
    if device_plugins.is_dir() and {p.name for p in KUBELET_HOST_DIR.iterdir()} == {
        "device-plugins"
    }:
        (device_plugins / "kubelet.sock").unlink(missing_ok=True)
        _remove_empty_dirs(KUBELET_HOST_DIR)
    for directory in (CNI_RESULTS, CNI_RESULTS.parent, CONTAINERD_RUN_DIR):
        _remove_empty_dirs(directory)


def _remove_empty_dirs(root: Path) -> None:
    """rmdir `root` and its subdirectories, deepest first, where they are empty."""
    if not root.is_dir():
        return
    directories = [p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()]
    for directory in [*sorted(directories, key=lambda p: len(p.parts), reverse=True), root]:
        with contextlib.suppress(OSError):
            directory.rmdir()
