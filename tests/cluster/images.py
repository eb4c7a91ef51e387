"""Container images made without a registry, cached as docker-archive tarballs.

A docker-archive (what `docker save` writes) is loaded unchanged by both `docker load` and
`ctr images import`, so the node's containerd gets our images even when no Docker engine runs,
and Dockerfiles `FROM` the same tag once it is loaded into Docker.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.cluster import paths
from tests.cluster.versions import DEBIAN_SUITE

PYTHON_BASE_IMAGE = f"docker.io/kflow/python-base:{DEBIAN_SUITE}"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PYTHON_BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
# Paths dropped from the debootstrapped tree: caches and docs a runtime image never reads.
_PRUNE = (
    "var/cache/apt/archives",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/log",
)
_FORMAT_VERSION = "1"  # bump when the archive layout written here changes


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)


def _say(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def _recipe_key(*parts: str) -> str:
    return hashlib.sha256("\n".join((_FORMAT_VERSION, *parts)).encode()).hexdigest()[:16]


def python_base_archive() -> Path:
    key = _recipe_key(DEBIAN_SUITE, DEBIAN_MIRROR, *PYTHON_BASE_PACKAGES, *_PRUNE)
    return paths.images_dir() / f"python-base-{DEBIAN_SUITE}-{key}.tar"


def pause_archive() -> Path:
    catatonit = Path("/usr/bin/catatonit")
    digest = hashlib.sha256(catatonit.read_bytes()).hexdigest()[:16] if catatonit.exists() else "x"
    return paths.images_dir() / f"pause-{_recipe_key(PAUSE_IMAGE, digest)}.tar"


def write_docker_archive(rootfs: Path, name: str, config: ImageConfig, target: Path) -> None:
    """Pack `rootfs` as a single-layer image named `name` into a docker-archive at `target`."""
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        layer = Path(tmp) / "layer.tar"
        # numeric owners, no pax headers from the host: the layer must look as root made it
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(layer), "."],
            check=True,
        )
        layer_digest = _sha256_file(layer)
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "Env": list(config.env),
                "Entrypoint": list(config.entrypoint) or None,
                "Cmd": list(config.cmd) or None,
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "kflow tests.cluster"}],
        }
        config_bytes = json.dumps(image_config, sort_keys=True).encode()
        config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
        manifest = [
            {"Config": config_name, "RepoTags": [name], "Layers": [f"{layer_digest}/layer.tar"]}
        ]
        partial = target.with_suffix(".partial")
        with tarfile.open(partial, "w") as archive:
            _add_bytes(archive, config_name, config_bytes)
            _add_bytes(archive, "manifest.json", json.dumps(manifest).encode())
            archive.add(layer, arcname=f"{layer_digest}/layer.tar")
        partial.rename(target)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    paths.images_dir().mkdir(parents=True, exist_ok=True)
    with open(paths.images_dir() / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_python_base() -> Path:
    """The Python base image archive: debootstrap'd Debian + python3, built once per recipe."""
    target = python_base_archive()
    if target.exists():
        return target
    with _lock("python-base"):
        if target.exists():
            return target
        started = time.monotonic()
        _say(f"debootstrapping {DEBIAN_SUITE} + python3 for {PYTHON_BASE_IMAGE} (about 2 min)")
        with tempfile.TemporaryDirectory(dir=paths.images_dir()) as tmp:
            rootfs = Path(tmp) / "rootfs"
            proc = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(PYTHON_BASE_PACKAGES)}",
                    DEBIAN_SUITE,
                    str(rootfs),
                    DEBIAN_MIRROR,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                log = rootfs / "debootstrap" / "debootstrap.log"
                detail = log.read_text()[-3000:] if log.exists() else proc.stderr[-3000:]
                raise RuntimeError(f"debootstrap of the Python base image failed:\n{detail}")
            for relative in _PRUNE:
                victim = rootfs / relative
                if victim.is_dir():
                    shutil.rmtree(victim)
                    victim.mkdir()
                else:
                    victim.unlink(missing_ok=True)
            write_docker_archive(
                rootfs,
                PYTHON_BASE_IMAGE,
                ImageConfig(
                    cmd=("python3",),
                    env=(
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "LANG=C.UTF-8",
                        "PYTHONUNBUFFERED=1",
                    ),
                ),
                target,
            )
        _say(f"{PYTHON_BASE_IMAGE} ready in {time.monotonic() - started:.0f}s: {target}")
    return target


def ensure_pause() -> Path:
    """The sandbox (pause) image: Debian's static catatonit reaping zombies as PID 1."""
    target = pause_archive()
    if target.exists():
        return target
    with _lock("pause"), tempfile.TemporaryDirectory(dir=paths.images_dir()) as tmp:
        rootfs = Path(tmp) / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy2("/usr/bin/catatonit", rootfs / "bin" / "catatonit")
        write_docker_archive(
            rootfs, PAUSE_IMAGE, ImageConfig(entrypoint=("/bin/catatonit", "-P")), target
        )
    return target
