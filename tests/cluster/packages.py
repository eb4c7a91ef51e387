"""Debian packages the harness itself needs, installed once and idempotently.

Installing a daemon package on Debian normally starts it; a temporary policy-rc.d stops that,
because the harness starts its own instances (on its own sockets) and owns their lifetime.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.cluster import paths

# package -> a file that proves it is installed (cheap check, no dpkg call when warm)
PACKAGES: dict[str, str] = {
    "containerd": "/usr/bin/containerd",
    "runc": "/usr/sbin/runc",
    "containernetworking-plugins": "/usr/lib/cni/bridge",
    "docker.io": "/usr/sbin/dockerd",
    "catatonit": "/usr/bin/catatonit",
    "debootstrap": "/usr/sbin/debootstrap",
    "iptables": "/usr/sbin/iptables",
    "openssl": "/usr/bin/openssl",
    "conntrack": "/usr/sbin/conntrack",
    "kmod": "/usr/sbin/modprobe",
}
_POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


class PackageError(RuntimeError):
    """apt-get could not provide a package the harness needs."""


def _apt(args: list[str], cwd: Path | None = None) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(
        ["apt-get", *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise PackageError(f"apt-get {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def ensure_installed(
    packages: tuple[str, ...] = tuple(PACKAGES),
    proofs: Mapping[str, str] = PACKAGES,
    needed_by: str = "the local cluster",
) -> None:
    """Install those of `packages` whose proof file (from `proofs`) is missing."""
    todo = [p for p in packages if not Path(proofs[p]).exists()]
    if not todo:
        return
    if os.geteuid() != 0:
        raise PackageError(
            f"{needed_by} needs root to install {', '.join(todo)}; run as root or install "
            "them yourself (apt-get install " + " ".join(todo) + ")"
        )
    print(f"[packages] installing {', '.join(todo)}", file=sys.stderr, flush=True)
    placed_policy = not _POLICY_RC_D.exists()
    if placed_policy:
        _POLICY_RC_D.write_text(
            "#!/bin/sh\n# kflow: do not start daemons while installing\nexit 101\n"
        )
        _POLICY_RC_D.chmod(0o755)
    try:
        try:
            _apt(["install", "-y", "--no-install-recommends", *todo])
        except PackageError:
            _apt(["update"])
            _apt(["install", "-y", "--no-install-recommends", *todo])
    finally:
        if placed_policy:
            _POLICY_RC_D.unlink(missing_ok=True)


def etcd_path() -> Path:
    return paths.tools_dir() / "etcd" / "usr" / "bin" / "etcd"


def etcd_binary() -> Path:
    """etcd from Debian's etcd-server .deb, unpacked (installing it would start a daemon)."""
    target = etcd_path()
    if target.is_file():
        return target
    download = paths.tools_dir() / "etcd-deb"
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    try:
        _apt(["download", "etcd-server"], cwd=download)
    except PackageError:
        _apt(["update"])
        _apt(["download", "etcd-server"], cwd=download)
    (deb,) = download.glob("etcd-server_*.deb")
    unpacked = paths.tools_dir() / "etcd"
    shutil.rmtree(unpacked, ignore_errors=True)
    subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True)
    shutil.rmtree(download, ignore_errors=True)
    if not target.is_file():
        raise PackageError(f"etcd-server .deb did not contain {target.relative_to(unpacked)}")
    return target
