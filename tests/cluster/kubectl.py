"""A thin kubectl runner for tests and the harness: fails loudly with kubectl's own stderr."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cluster import tools


class KubectlError(RuntimeError):
    """kubectl exited non-zero; the message carries the command and its stderr."""


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path
    namespace: str | None = None

    def in_namespace(self, namespace: str) -> Kubectl:
        return Kubectl(self.kubeconfig, namespace)

    def run(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        argv = [str(tools.kubectl())]
        if self.namespace:
            argv += ["--namespace", self.namespace]
        argv += list(args)
        proc = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ, KUBECONFIG=str(self.kubeconfig)),
            check=False,
        )
        if proc.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def apply(self, manifest: str) -> str:
        return self.run("apply", "-f", "-", stdin=manifest)

    def get_json(self, *args: str) -> Any:
        return json.loads(self.run("get", *args, "-o", "json"))


def poll(what: str, probe: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Call `probe` until it returns something truthy; raise with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (KubectlError, subprocess.TimeoutExpired) as error:
            last_error, value = error, None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f}s (last error: {last_error})")
