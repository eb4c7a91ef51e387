"""`kflow-operator --namespace NS` run as a child process, configured as the chart runs it
(peering on, a liveness endpoint): how the integration tests and the cluster benchmarks start,
check and stop an operator they can also SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from tests.support.waiting import wait_until

OPERATOR = Path(sys.executable).parent / "kflow-operator"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OperatorProcess:
    """One `kflow-operator --namespace NS` child process; its output goes to `log_path`."""

    popen: subprocess.Popen[bytes]
    health_url: str
    log_path: Path

    @classmethod
    def start(
        cls,
        namespace: str,
        kubeconfig: Path,
        state_dir: Path,
        log_path: Path,
        cwd: Path,
        extra: Sequence[str] = (),
        ready_timeout: float = 30,
        wrapper: Sequence[str] = (),
    ) -> Self:
        """Start it and wait until its liveness endpoint answers; stopped again if it never
        does (the error carries its log). `wrapper` is a command that execs the rest (e.g. one
        that first enters a cgroup), so the child's PID stays the operator's."""
        port = free_port()
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [
                    *wrapper,
                    str(OPERATOR),
                    "--namespace",
                    namespace,
                    "--state-dir",
                    str(state_dir),
                    "--liveness",
                    f"http://127.0.0.1:{port}/healthz",
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, KUBECONFIG=str(kubeconfig), PYTHONUNBUFFERED="1"),
                cwd=cwd,
            )
        operator = cls(popen, f"http://127.0.0.1:{port}/healthz", log_path)
        try:
            operator.wait_ready(ready_timeout)
        except BaseException:
            operator.stop()
            raise
        return operator

    def wait_ready(self, timeout: float = 30) -> None:
        def healthy() -> bool:
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"kflow-operator exited with {self.popen.returncode}:\n{self.log()}"
                )
            try:
                with urllib.request.urlopen(self.health_url, timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_until("kflow-operator liveness", healthy, timeout, 0.1)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def sigkill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, grace: float = 15) -> None:
        """SIGTERM, and SIGKILL if it is still there after `grace` seconds."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.sigkill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, characters: int = 3000) -> str:
        return self.log()[-characters:]
