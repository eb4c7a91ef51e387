"""The dashboard's runs page in a real browser: runs change state in the open page within a
second of the API server having the change, without a reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Cluster, OperatorProcess
from tests.integration.dashboard_support import LIVE_SECONDS, gated_deployment
from tests.support.browser import Browser
from tests.support.dashboard import DashboardFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    path = tmp_path / "marks"
    path.mkdir()
    return path


def test_runs_page_follows_a_run_from_pending_to_completed_without_reload(
    cluster: Cluster,
    operator: OperatorProcess,
    dashboards: DashboardFactory,
    browser: Browser,
    marks: Path,
) -> None:
    gated_deployment(cluster, marks, "greeter")
    dashboard = dashboards.start()
    browser.open(f"{dashboard.url}/runs")
    assert "No runs match." in browser.text("#live")
    browser.mark_page()

    cluster.flowrun("r1", {"deploymentRef": {"name": "greeter"}, "parameters": {"label": "x"}})
    state = 'tr[data-run="r1"] .state'
    for expected, release in (("PENDING", "launch"), ("RUNNING", "finish"), ("COMPLETED", "")):
        cluster.wait_state("r1", expected)

        def shown(expected: str = expected) -> bool:
            return browser.attribute(state, "data-state") == expected

        browser.wait_for(f"r1 shown {expected}", shown, timeout=LIVE_SECONDS)
        browser.screenshot(f"runs-{expected.lower()}")
        if release:
            (marks / release).touch()

    assert browser.still_same_page(), "the page was reloaded"
    browser.wait_for(
        "the count of COMPLETED runs",
        lambda: browser.text('[data-count-state="COMPLETED"] b') == "1",
        timeout=LIVE_SECONDS,
    )
    assert browser.text('tr[data-run="r1"] td:nth-child(3)') == "greeter"
    browser.wait_for(
        "the run in the chart of ended runs",
        lambda: browser.attribute(".chart", "data-ended") == "1",
        timeout=LIVE_SECONDS,
    )
    browser.open(f"{dashboard.url}/runs?since=1h&deployment=greeter&state=COMPLETED")
    assert browser.attributes("tr[data-run]", "data-run") == ["r1"]
