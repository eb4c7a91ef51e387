"""Mount points our daemons leave under directories we own, and their removal."""

from __future__ import annotations

import subprocess
from pathlib import Path


def under(root: Path) -> list[str]:
    """Mount points at or below `root`, deepest first."""
    prefix = str(root)
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target == prefix or target.startswith(prefix + "/"):
            found.append(target)
    return sorted(set(found), key=len, reverse=True)


def unmount_under(root: Path) -> None:
    for target in under(root):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)
