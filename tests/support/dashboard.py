"""`kflow dashboard` run as a child process for the browser tests, and the fixtures that give
a test a dashboard and a browser (imported by tests/integration/conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pytest

from tests.support.browser import Browser, new_driver
from tests.support.operator_process import free_port
from tests.support.waiting import wait_until

KFLOW = Path(sys.executable).parent / "kflow"


@dataclass
class DashboardProcess:
    popen: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @classmethod
    def start(cls, kubeconfig: Path, namespace: str, log_path: Path) -> Self:
        """`kflow dashboard --namespace NS` with that kubeconfig."""
        env = {"KUBECONFIG": str(kubeconfig)}
        return cls.launch(["--namespace", namespace], env, log_path)

    @classmethod
    def launch(cls, arguments: list[str], env: dict[str, str], log_path: Path) -> Self:
        """Start `kflow dashboard ARGUMENTS` on a free port and wait until it has listed
        FlowRuns and Deployments (or was refused)."""
        port = free_port()
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [str(KFLOW), "dashboard", "--port", str(port), *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, **env, PYTHONUNBUFFERED="1"),
            )
        dashboard = cls(popen, f"http://127.0.0.1:{port}", log_path)
        try:
            wait_until("the dashboard to have listed its objects", dashboard.synced, 30, 0.1)
        except BaseException:
            dashboard.stop()
            raise
        return dashboard

    def synced(self) -> bool:
        """Every kind listed, or refused (the pages then say why)."""
        if self.popen.poll() is not None:
            raise RuntimeError(
                f"kflow dashboard exited with {self.popen.returncode}:\n{self.log()}"
            )
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                health = json.load(response)
        except OSError:
            return False
        return all(done or health["errors"][kind] for kind, done in health["synced"].items())

    def stop(self, grace: float = 10) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class DashboardFactory:
    namespace: str
    kubeconfig: Path
    directory: Path
    started: list[DashboardProcess] = field(default_factory=list)

    def start(self, kubeconfig: Path | None = None) -> DashboardProcess:
        log = self.directory / f"dashboard-{len(self.started)}.log"
        dashboard = DashboardProcess.start(kubeconfig or self.kubeconfig, self.namespace, log)
        self.started.append(dashboard)
        return dashboard


@pytest.fixture
def dashboards(cluster: Any, kubeconfig: Path, tmp_path: Path) -> Iterator[DashboardFactory]:
    """`kflow dashboard --namespace NS` processes on demand, each stopped at the end; a test
    that fails gets their output in its report."""
    factory = DashboardFactory(cluster.namespace, kubeconfig, tmp_path)
    yield factory
    for dashboard in factory.started:
        dashboard.stop()
        print(f"--- {dashboard.log_path}\n{dashboard.log()[-4000:]}")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """Headless chromium; its screenshots go to the test's own folder, `screenshots/`."""
    driver = new_driver()
    try:
        yield Browser(driver, tmp_path / "screenshots")
    finally:
        driver.quit()
