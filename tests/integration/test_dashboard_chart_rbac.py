"""The rights the chart gives its in-cluster dashboard (`dashboard.enabled`), tried for real:
the chart's ServiceAccount, Role and RoleBinding are applied in the test's namespace, and
`kflow dashboard` runs with that ServiceAccount's token, as its pod would. Read-only by
default: it shows runs and their Events, and Cancel gets the API server's 403; with
`dashboard.actions.enabled` the same Cancel goes through."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import Cluster, OperatorProcess
from tests.integration.dashboard_support import gated_deployment, service_account_kubeconfig
from tests.support.browser import Browser
from tests.support.chart import render
from tests.support.dashboard import DashboardFactory

pytestmark = pytest.mark.integration

RUN_STATE = ".run-state .state"
ACCOUNT = "kflow-dashboard"


def apply_chart_rbac(cluster: Cluster, actions: bool) -> None:
    """The chart's dashboard ServiceAccount and its Role in the test's namespace (its
    Deployment and Service need the image, which this tier does not build)."""
    values: dict[str, str | int | bool] = {
        "dashboard.enabled": True,
        "dashboard.namespace": cluster.namespace,
        "dashboard.actions.enabled": actions,
    }
    chart = render(values, namespace=cluster.namespace)
    objects = [
        o
        for o in chart.objects
        if o["metadata"]["name"] == ACCOUNT
        and o["kind"] in ("ServiceAccount", "Role", "RoleBinding")
    ]
    assert len(objects) == 3
    cluster.apply("---\n".join(yaml.safe_dump(o) for o in objects))


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    path = tmp_path / "marks"
    path.mkdir()
    return path


def test_the_charts_dashboard_reads_and_acts_only_when_actions_are_enabled(
    cluster: Cluster,
    operator: OperatorProcess,
    dashboards: DashboardFactory,
    browser: Browser,
    marks: Path,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    gated_deployment(cluster, marks, "greeter", cancelGracePeriodSeconds=5)
    (marks / "launch").touch()
    cluster.flowrun("r", {"deploymentRef": {"name": "greeter"}, "parameters": {"label": "x"}})
    cluster.wait_state("r", "RUNNING", timeout=60)
    apply_chart_rbac(cluster, actions=False)
    account = service_account_kubeconfig(cluster, kubeconfig, tmp_path, ACCOUNT)

    dashboard = dashboards.start(account)
    browser.open(f"{dashboard.url}/runs/{cluster.namespace}/r")
    assert browser.attribute(RUN_STATE, "data-state") == "RUNNING"
    browser.wait_for("the run's Events", lambda: "Running" in browser.text("table.events"))
    assert "could not be read" not in browser.text("main")
    browser.click('button[data-action="Cancel"]')
    message = browser.wait_for("the refusal", lambda: browser.text(".banner-error"))
    assert "403 Forbidden" in message
    assert f"system:serviceaccount:{cluster.namespace}:{ACCOUNT}" in message
    assert not cluster.get_flowrun("r")["spec"].get("cancel")

    apply_chart_rbac(cluster, actions=True)
    browser.open(f"{dashboard.url}/runs/{cluster.namespace}/r")
    browser.click('button[data-action="Cancel"]')
    browser.wait_for(
        "CANCELLED in the page",
        lambda: browser.attribute(RUN_STATE, "data-state") == "CANCELLED",
        timeout=30,
    )
    assert cluster.get_flowrun("r")["spec"]["cancel"] is True
