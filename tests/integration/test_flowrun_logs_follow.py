"""`kflow flow-run logs -f` on a real run: started before the run is launched, it says what the
run waits for, then follows the process run's output as it is written, and stops on its own
when the run is over; Ctrl-C stops it at once, without a traceback."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.conftest import Cluster, OperatorProcess
from tests.integration.test_execute_cli import KFLOW

pytestmark = pytest.mark.integration


class Follower:
    """`kflow flow-run logs -f NAME` as a user runs it, its stdout read line by line as it
    comes (with the time each line arrived)."""

    def __init__(self, cluster: Cluster, kubeconfig: Path, home: Path, name: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(KUBECONFIG=str(kubeconfig), HOME=str(home), KFLOW_HOME=str(home / ".kflow"))
        self.process = subprocess.Popen(
            [str(KFLOW), "flow-run", "logs", "-f", name, "-n", cluster.namespace],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put((time.monotonic(), line))

    def next_line(self, containing: str, timeout: float) -> float:
        """When the first line containing `containing` arrived."""
        deadline = time.monotonic() + timeout
        while True:
            at, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if containing in line:
                return at

    def wait(self, timeout: float) -> tuple[int, str]:
        """(exit code, stderr) once it exits by itself."""
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        self._reader.join(timeout=10)
        stderr = self.process.stderr.read() if self.process.stderr else ""
        return code, stderr

    def rest(self) -> list[str]:
        found = []
        while not self.lines.empty():
            found.append(self.lines.get()[1])
        return found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    made = tmp_path / "home"
    made.mkdir()
    return made


def test_logs_follow_waits_for_the_launch_then_follows_a_process_run_to_its_end(
    cluster: Cluster, operator: OperatorProcess, kubeconfig: Path, home: Path
) -> None:
    cluster.deployment(
        "talker",
        {
            "entrypoint": "flows.py:talks",
            "parameters": {"lines": 6, "pause": 0.5},
            "infrastructure": {"type": "process"},
        },
    )
    due = datetime.now(UTC) + timedelta(seconds=4)
    cluster.flowrun(
        "r",
        {"deploymentRef": {"name": "talker"}, "scheduledTime": due.isoformat()},
    )
    follower = Follower(cluster, kubeconfig, home, "r")
    first = follower.next_line("line 1 of 6", timeout=60)
    assert cluster.state("r") == "RUNNING", "the first line is printed while the run goes on"
    last = follower.next_line("line 6 of 6", timeout=30)
    assert last - first >= 2.0, "lines arrive as the flow prints them, not all at the end"
    code, stderr = follower.wait(timeout=30)
    assert code == 0, stderr
    assert cluster.state("r") == "COMPLETED"
    assert "waiting for FlowRun r to start: SCHEDULED" in stderr, stderr
    assert "Traceback" not in stderr
    assert any("Finished in state Completed" in line for line in follower.rest())


def test_logs_follow_of_a_run_that_ends_before_it_starts_says_so_and_stops(
    cluster: Cluster, operator: OperatorProcess, kubeconfig: Path, home: Path
) -> None:
    cluster.deployment(
        "talker", {"entrypoint": "flows.py:talks", "infrastructure": {"type": "process"}}
    )
    due = datetime.now(UTC) + timedelta(hours=1)
    cluster.flowrun("r", {"deploymentRef": {"name": "talker"}, "scheduledTime": due.isoformat()})
    cluster.wait_state("r", "SCHEDULED")
    follower = Follower(cluster, kubeconfig, home, "r")
    cluster.cancel("r")
    code, stderr = follower.wait(timeout=30)
    assert code == 0, stderr
    assert "FlowRun r ended before its flow started: CANCELLED" in stderr, stderr


def test_ctrl_c_stops_logs_follow_at_once_without_a_traceback(
    cluster: Cluster, operator: OperatorProcess, kubeconfig: Path, home: Path
) -> None:
    cluster.deployment(
        "talker",
        {
            "entrypoint": "flows.py:talks",
            "parameters": {"lines": 200, "pause": 0.2},
            "infrastructure": {"type": "process"},
        },
    )
    cluster.flowrun("r", {"deploymentRef": {"name": "talker"}})
    follower = Follower(cluster, kubeconfig, home, "r")
    follower.next_line("line 2 of 200", timeout=60)
    follower.process.send_signal(signal.SIGINT)
    code, stderr = follower.wait(timeout=10)
    assert code == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert cluster.state("r") == "RUNNING", "Ctrl-C stops following, not the run"
