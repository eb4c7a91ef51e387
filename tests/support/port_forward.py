"""`kubectl port-forward` to a pod, on a port the kernel picks on 127.0.0.1, for as long as a
test needs to talk to something only reachable inside the pod."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.cluster import tools
from tests.support.waiting import wait_until

FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+)")


@contextmanager
def port_forward(kubeconfig: Path, namespace: str, target: str, port: int) -> Iterator[int]:
    """Yield the local port that reaches `target` (e.g. `deployment/x`) on `port`."""
    process = subprocess.Popen(
        [
            str(tools.kubectl()),
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            namespace,
            "port-forward",
            "--address",
            "127.0.0.1",
            target,
            f":{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []

        def local_port() -> int | None:
            if process.poll() is not None:
                raise RuntimeError(f"kubectl port-forward exited: {''.join(lines)}")
            line = process.stdout.readline() if process.stdout else ""
            lines.append(line)
            found = FORWARDING.search(line)
            return int(found.group(1)) if found else None

        yield int(wait_until(f"port-forward to {target}", local_port, timeout=30, interval=0))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
