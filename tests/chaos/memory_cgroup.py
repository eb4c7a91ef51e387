"""A memory cgroup of the test's own (cgroup v1 `memory` hierarchy, or the v2 unified one),
to run an operator under a limit the kernel enforces with its OOM killer."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

V1 = Path("/sys/fs/cgroup/memory")
V2 = Path("/sys/fs/cgroup")


class MemoryCgroup:
    def __init__(self) -> None:
        name = f"kflow-chaos-{uuid.uuid4().hex[:8]}"
        if (V1 / "memory.limit_in_bytes").exists():
            self.path, self._limit_file, self._v2 = V1 / name, "memory.limit_in_bytes", False
        elif (V2 / "cgroup.controllers").exists():
            self.path, self._limit_file, self._v2 = V2 / name, "memory.max", True
        else:
            raise RuntimeError("no memory cgroup hierarchy under /sys/fs/cgroup")
        self.path.mkdir()

    def set_limit(self, limit_bytes: int) -> None:
        """Memory (and memory+swap, so swap is no way out) limited to `limit_bytes`. v1 wants
        memory ≤ memory+swap at every step: raise the latter first, lower the former first."""
        files = [self._limit_file]
        if not self._v2 and (self.path / "memory.memsw.limit_in_bytes").exists():
            current = int((self.path / self._limit_file).read_text())
            swap = "memory.memsw.limit_in_bytes"
            files = [swap, self._limit_file] if limit_bytes > current else [self._limit_file, swap]
        for name in files:
            (self.path / name).write_text(str(limit_bytes))

    def wrapper(self) -> list[str]:
        """A command prefix that enters this cgroup, then execs the rest: the process starts
        inside, so every page it ever allocates is charged here."""
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh"]

    def usage(self) -> int:
        name = "memory.current" if self._v2 else "memory.usage_in_bytes"
        return int((self.path / name).read_text())

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer ended in this cgroup."""
        name = "memory.events" if self._v2 else "memory.oom_control"
        for line in (self.path / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()
