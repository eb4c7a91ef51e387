"""`kflow dashboard --local` in a real browser: the local run history (flows run without a
cluster) on the same pages, live, with the same cancel."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import FLOWS, process_alive
from tests.integration.dashboard_support import LIVE_SECONDS
from tests.support.browser import Browser
from tests.support.dashboard import DashboardProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

RUN_STATE = ".run-state .state"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "marks").mkdir()
    return tmp_path / "home"


def run_gated(home: Path, label: str) -> subprocess.Popen[bytes]:
    """`gated(label)` run locally, in a process of its own, recorded under KFLOW_HOME."""
    script = (
        f"import sys; sys.path.insert(0, {str(FLOWS)!r}); "
        f"from dashboard_flows import gated; gated({label!r})"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        env=dict(os.environ, KFLOW_HOME=str(home), TEST_MARKS=str(home.parent / "marks")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def local_dashboard(home: Path, tmp_path: Path) -> Iterator[DashboardProcess]:
    dashboard = DashboardProcess.launch(
        ["--local"], {"KFLOW_HOME": str(home)}, tmp_path / "dashboard.log"
    )
    yield dashboard
    dashboard.stop()
    print(dashboard.log()[-4000:])


def test_local_runs_are_shown_live_and_cancelled_from_their_page(
    home: Path, local_dashboard: DashboardProcess, browser: Browser
) -> None:
    marks = home.parent / "marks"
    (marks / "finish").touch()
    first = run_gated(home, "done")
    assert first.wait(timeout=60) == 0
    (marks / "finish").unlink()

    browser.open(f"{local_dashboard.url}/runs")
    browser.wait_for("the finished run", lambda: browser.texts('tr [data-state="COMPLETED"]'))
    browser.mark_page()
    second = run_gated(home, "waits")
    try:
        browser.wait_for(
            "the new run RUNNING",
            lambda: browser.texts('tr [data-state="RUNNING"]'),
            timeout=30,
        )
        assert browser.text(".chip.current b") == "2"
        assert browser.still_same_page()
        browser.screenshot("local-runs")

        browser.click('tr:has([data-state="RUNNING"]) a')
        browser.wait_for("the run page", lambda: browser.text("h1").startswith("Run "))
        assert "Kubernetes Events" not in browser.text("main")
        (marks / "say").write_text("the local dashboard")
        browser.wait_for(
            "the flow's log line",
            lambda: "heard the local dashboard" in browser.text("pre.logs"),
            timeout=LIVE_SECONDS + 4,
        )
        browser.click('button[data-action="Cancel"]')
        browser.wait_for(
            "CANCELLED in the page",
            lambda: browser.attribute(RUN_STATE, "data-state") == "CANCELLED",
            timeout=30,
        )
        wait_until("the run's process to exit", lambda: second.poll() is not None, timeout=30)
        assert second.returncode == 143
        assert not process_alive(second.pid)
        browser.screenshot("local-run-cancelled")
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(timeout=10)
