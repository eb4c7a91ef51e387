"""The dashboard's home page in a real browser: failed and crashed runs of the last 24 hours,
late runs and Deployments that are not Ready, kept current without a reload. The states are
written to the status subresource the way the operator writes them, so each case is exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import GROUP, VERSION, Cluster
from tests.integration.dashboard_support import LIVE_SECONDS
from tests.support.browser import Browser
from tests.support.dashboard import DashboardFactory

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_in_state(cluster: Cluster, name: str, kind: str, state: str, ago: timedelta) -> None:
    spec: dict[str, object] = {"deploymentRef": {"name": "nightly"}}
    if kind == "SCHEDULED":
        spec["scheduledTime"] = stamp(NOW - ago)
    cluster.flowrun(name, spec)
    when = stamp(NOW - ago)
    cluster.patch_flowrun_status(
        name, {"state": {"type": kind, "name": state, "message": f"{state}!", "timestamp": when}}
    )


def listed(browser: Browser, section: str) -> list[str]:
    """The names of the runs a section of the page lists, in order."""
    return browser.attributes(f"{section} tr[data-run]", "data-run")


def test_home_shows_what_needs_attention_and_follows_changes(
    cluster: Cluster, dashboards: DashboardFactory, browser: Browser
) -> None:
    for name in ("nightly", "broken"):
        cluster.deployment(
            name, {"entrypoint": "flows.py:main", "infrastructure": {"type": "process"}}
        )
    ready = {
        "type": "Ready",
        "status": "False",
        "reason": "InvalidSchedule",
        "message": "unknown time zone 'Mars/Olympus'",
        "lastTransitionTime": stamp(NOW),
    }
    status = {"status": {"conditions": [ready]}}
    cluster.objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, cluster.namespace, "deployments", "broken", status
    )
    run_in_state(cluster, "late", "SCHEDULED", "Late", timedelta(minutes=10))
    run_in_state(cluster, "failed-today", "FAILED", "Failed", timedelta(hours=2))
    run_in_state(cluster, "failed-long-ago", "FAILED", "Failed", timedelta(hours=30))
    run_in_state(cluster, "done", "COMPLETED", "Completed", timedelta(minutes=1))
    run_in_state(cluster, "busy", "RUNNING", "Running", timedelta(minutes=1))

    dashboard = dashboards.start()
    browser.open(f"{dashboard.url}/")
    assert listed(browser, "#failed") == ["failed-today"]
    assert listed(browser, "#late") == ["late"]
    not_ready = browser.text('#not-ready tr[data-deployment="broken"]')
    assert "InvalidSchedule" in not_ready and "unknown time zone 'Mars/Olympus'" in not_ready
    assert browser.attribute(".counts", "data-active") == "1"
    browser.mark_page()

    run_in_state(cluster, "crashed-now", "CRASHED", "Crashed", timedelta(0))
    browser.wait_for(
        "the crashed run listed",
        lambda: browser.attribute("#failed", "data-count") == "2",
        timeout=LIVE_SECONDS,
    )
    assert listed(browser, "#failed") == ["crashed-now", "failed-today"]
    assert browser.still_same_page()
    browser.screenshot("home")

    # Work pools light up only where the cluster serves the WorkPool kind.
    served = cluster.kubectl.run("api-resources", "--api-group=kflow.dev", "-o", "name")
    has_pools = any(line.startswith("workpools.") for line in served.split())
    assert ("Work pools" in browser.texts("nav a")) == has_pools
    browser.driver.get(f"{dashboard.url}/workpools")
    if not has_pools:
        assert "This cluster has no WorkPool kind" in browser.text(".banner")
