"""cgroup trees our daemons create under every hierarchy (`kubepods`, `docker`).

The kubelet and dockerd make them but never remove them; `down` deletes them deepest first
once their processes are gone (rmdir of a cgroup with live tasks fails and is left alone).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def trees(name: str) -> list[str]:
    """`name` directly under each hierarchy (cgroup v1) or under the unified root (v2)."""
    candidates = [CGROUP_ROOT / name, *CGROUP_ROOT.glob(f"*/{name}")]
    return [str(p) for p in candidates if p.is_dir()]


def remove_trees(name: str) -> None:
    for top in (Path(p) for p in trees(name)):
        directories = [p for p in top.rglob("*") if p.is_dir()]
        for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
