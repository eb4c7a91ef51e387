"""The dashboard's run page in a real browser: what it shows of a run, and its actions,
which write through the API with the user's own credentials (so RBAC decides)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import (
    Cluster,
    OperatorProcess,
    process_alive,
    recorded_process,
)
from tests.integration.dashboard_support import (
    LIVE_SECONDS,
    gated_deployment,
    view_only_kubeconfig,
)
from tests.support.browser import Browser
from tests.support.dashboard import DashboardFactory

pytestmark = pytest.mark.integration

RUN_STATE = ".run-state .state"


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    path = tmp_path / "marks"
    path.mkdir()
    return path


def running_run(cluster: Cluster, marks: Path) -> tuple[int, int]:
    """A run of the gated flow, RUNNING until cancelled; its process."""
    gated_deployment(cluster, marks, "greeter", cancelGracePeriodSeconds=5)
    (marks / "launch").touch()
    cluster.flowrun("r", {"deploymentRef": {"name": "greeter"}, "parameters": {"label": "x"}})
    return recorded_process(cluster.wait_state("r", "RUNNING", timeout=60))


def test_cancel_from_the_run_page_stops_the_run_and_its_process(
    cluster: Cluster,
    operator: OperatorProcess,
    dashboards: DashboardFactory,
    browser: Browser,
    marks: Path,
) -> None:
    pid, ticks = running_run(cluster, marks)
    dashboard = dashboards.start()
    browser.open(f"{dashboard.url}/runs/{cluster.namespace}/r")
    assert browser.attribute(RUN_STATE, "data-state") == "RUNNING"
    browser.wait_for("the task run", lambda: "greet" in browser.text("table.task-runs"))
    assert browser.text('tr[data-parameter="label"] pre') == '"x"'
    (marks / "say").write_text("<b>you</b>")
    browser.wait_for(
        "the flow's new log line, tailed", lambda: "heard <b>you</b>" in browser.text("pre.logs")
    )
    browser.screenshot("run-running")

    browser.click('button[data-action="Cancel"]')
    browser.wait_for(
        "CANCELLED in the page",
        lambda: browser.attribute(RUN_STATE, "data-state") == "CANCELLED",
        timeout=30,
    )
    assert not process_alive(pid, ticks), "the run's process is still there"
    run = cluster.get_flowrun("r")
    assert run["spec"]["cancel"] is True
    assert run["status"]["state"]["type"] == "CANCELLED"
    browser.wait_for(
        "the timeline up to CANCELLED",
        lambda: browser.texts(".timeline .state")[-2:] == ["CANCELLING", "CANCELLED"],
        timeout=LIVE_SECONDS,
    )
    assert "cancel requested" in browser.text("#live")  # the cancellation steps
    browser.wait_for("the Cancelling Event", lambda: "Cancelling" in browser.text("table.events"))
    browser.screenshot("run-cancelled")


def test_a_view_only_user_sees_the_api_servers_403_when_cancelling(
    cluster: Cluster,
    operator: OperatorProcess,
    dashboards: DashboardFactory,
    browser: Browser,
    marks: Path,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    pid, ticks = running_run(cluster, marks)
    viewer = view_only_kubeconfig(cluster, kubeconfig, tmp_path)
    dashboard = dashboards.start(viewer)
    browser.open(f"{dashboard.url}/runs/{cluster.namespace}/r")
    assert browser.attribute(RUN_STATE, "data-state") == "RUNNING"

    browser.click('button[data-action="Cancel"]')
    # The page already shows a banner (this viewer may not watch workpools): wait for the
    # answer to the click, not whatever banner the page had before it.
    message = browser.wait_for(
        "the refusal",
        lambda: next((t for t in browser.texts(".banner-error") if "cancel" in t), None),
    )
    assert message.startswith("The Kubernetes API server refused to cancel this run: 403 Forbidden")
    assert f'"system:serviceaccount:{cluster.namespace}:viewer"' in message
    assert 'cannot patch resource "flowruns"' in message
    browser.screenshot("run-forbidden")
    assert not cluster.get_flowrun("r")["spec"].get("cancel")
    assert cluster.state("r") == "RUNNING" and process_alive(pid, ticks)


def test_resume_from_the_run_page_continues_a_paused_run(
    cluster: Cluster,
    operator: OperatorProcess,
    dashboards: DashboardFactory,
    browser: Browser,
    marks: Path,
) -> None:
    gated_deployment(cluster, marks, "pauser", entrypoint="dashboard_flows.py:pauses")
    (marks / "launch").touch()
    cluster.flowrun("p", {"deploymentRef": {"name": "pauser"}, "parameters": {"label": "p"}})
    dashboard = dashboards.start()
    browser.open(f"{dashboard.url}/runs/{cluster.namespace}/p")
    browser.mark_page()
    browser.wait_for(
        "PAUSED in the page", lambda: browser.attribute(RUN_STATE, "data-state") == "PAUSED", 60
    )
    assert browser.still_same_page(), "the page was reloaded"
    assert cluster.get_flowrun("p")["spec"]["paused"] is True
    browser.screenshot("run-paused")

    browser.click('button[data-action="Resume"]')
    browser.wait_for(
        "COMPLETED after the resume",
        lambda: browser.attribute(RUN_STATE, "data-state") == "COMPLETED",
        timeout=60,
    )
    run = cluster.get_flowrun("p")
    assert run["spec"]["paused"] is False
    assert run["status"]["result"]["value"] == "hello p, then hello p again"
    assert [h["type"] for h in run["status"]["stateHistory"]][-3:] == [
        "PAUSED",
        "RUNNING",
        "COMPLETED",
    ]


def test_retry_starts_a_new_run_of_the_same_deployment_and_parameters(
    cluster: Cluster,
    operator: OperatorProcess,
    dashboards: DashboardFactory,
    browser: Browser,
    marks: Path,
) -> None:
    gated_deployment(cluster, marks, "greeter")
    for release in ("launch", "finish"):
        (marks / release).touch()
    spec = {"deploymentRef": {"name": "greeter"}, "parameters": {"label": "<b>again</b>"}}
    cluster.flowrun("first", {**spec, "tags": ["t1"]})
    cluster.wait_state("first", "COMPLETED", timeout=60)
    dashboard = dashboards.start()
    browser.open(f"{dashboard.url}/runs/{cluster.namespace}/first")
    assert '"greetings": [\n    "hello <b>again</b>"' in browser.text(".result pre")

    browser.click('button[data-action="Retry"]')
    browser.wait_for("the new run's page", lambda: "/first" not in browser.driver.current_url)
    new_name = browser.driver.current_url.rsplit("/", 1)[1]
    assert new_name.startswith("greeter-")
    assert browser.texts("#logs"), "the run page was rendered before the run was known"
    retried = cluster.get_flowrun(new_name)
    assert {k: v for k, v in retried["spec"].items() if v is not False} == spec | {"tags": ["t1"]}
    assert retried["metadata"]["annotations"]["kflow.dev/retry-of"] == "first"
    browser.wait_for(
        "the retry COMPLETED",
        lambda: browser.attribute(RUN_STATE, "data-state") == "COMPLETED",
        timeout=60,
    )
    assert "first" in browser.text("a.run-link")


def test_a_kind_the_user_may_not_list_is_explained_on_every_page(
    cluster: Cluster,
    dashboards: DashboardFactory,
    browser: Browser,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    viewer = view_only_kubeconfig(cluster, kubeconfig, tmp_path, resources=("flowruns",))
    dashboard = dashboards.start(viewer)
    for page in ("/", "/runs", "/deployments"):
        browser.open(f"{dashboard.url}{page}")
        message = browser.text("#live .banner-error")
        assert message.startswith("cannot list or watch deployments: 403 Forbidden")
        assert 'cannot list resource "deployments"' in message
