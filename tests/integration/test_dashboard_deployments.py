"""The dashboard's Deployment pages in a real browser: schedules in words, pause/unpause, and
a run started from the run-now form (checked against the parameter schema first) followed
from PENDING to COMPLETED in the open page without a reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Cluster, OperatorProcess
from tests.integration.dashboard_support import LIVE_SECONDS, gated_deployment
from tests.support.browser import Browser
from tests.support.custom_objects import items_of, json_object
from tests.support.dashboard import DashboardFactory

pytestmark = pytest.mark.integration

RUN_STATE = ".run-state .state"
DAILY = {"cron": "0 9 * * *", "timezone": "Asia/Tokyo"}


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    path = tmp_path / "marks"
    path.mkdir()
    return path


def started_runs(cluster: Cluster) -> list[str]:
    """FlowRuns not created by the schedule (those are named after their scheduled time)."""
    items = items_of(
        cluster.objects.list_namespaced_custom_object(
            "kflow.dev", "v1alpha1", cluster.namespace, "flowruns"
        )
    )
    return [i["metadata"]["name"] for i in items if not i["spec"].get("scheduledTime")]


def test_run_now_form_checks_the_parameters_then_the_run_is_followed_live(
    cluster: Cluster,
    operator: OperatorProcess,
    dashboards: DashboardFactory,
    browser: Browser,
    marks: Path,
) -> None:
    gated_deployment(cluster, marks, "greeter", schedules=[DAILY], description="Says hello.")
    dashboard = dashboards.start()
    browser.open(f"{dashboard.url}/deployments")
    row = 'tr[data-deployment="greeter"]'
    assert "every day at 09:00 Asia/Tokyo" in browser.text(row)
    browser.screenshot("deployments")
    browser.click(f"{row} a")
    browser.wait_for("the Deployment page", lambda: browser.text("h1") == "Deployment greeter")

    browser.click('button[data-action="Run"]')  # label is required and empty
    browser.wait_for("the refusal", lambda: "Nothing was started" in browser.text(".banner"))
    assert browser.text('[data-field="label"] .problem') == (
        "required: the flow has no default for it"
    )
    browser.find('[data-field="label"] input').send_keys("from the form")
    times = browser.find('[data-field="times"] input')
    times.clear()
    times.send_keys("two")
    browser.click('button[data-action="Run"]')
    browser.wait_for(
        "the type problem",
        lambda: "must be a whole number" in browser.text('[data-field="times"] .problem'),
    )
    assert browser.find('[data-field="label"] input').get_attribute("value") == "from the form"
    assert started_runs(cluster) == [], "a run was created from an invalid form"
    browser.screenshot("deployment-form-problems")

    times = browser.find('[data-field="times"] input')
    times.clear()
    times.send_keys("2")
    browser.click('button[data-action="Run"]')
    browser.wait_for("the new run's page", lambda: browser.text("h1").startswith("Run greeter-"))
    (name,) = started_runs(cluster)
    assert browser.text("h1") == f"Run {name}"
    assert browser.texts("#logs"), "the run page was rendered before the run was known"
    assert cluster.get_flowrun(name)["spec"]["parameters"] == {"label": "from the form", "times": 2}
    browser.mark_page()

    for expected, release in (("PENDING", "launch"), ("RUNNING", "finish"), ("COMPLETED", "")):
        cluster.wait_state(name, expected, timeout=60)

        def shown(expected: str = expected) -> bool:
            return browser.attribute(RUN_STATE, "data-state") == expected

        browser.wait_for(f"{expected} in the run page", shown, timeout=LIVE_SECONDS)
        if release:
            (marks / release).touch()
    assert browser.still_same_page(), "the page was reloaded"
    browser.wait_for("the result", lambda: "hello from the form" in browser.text(".result"))
    browser.wait_for("both task runs", lambda: len(browser.texts("table.task-runs tbody tr")) == 2)
    browser.wait_for(
        "the end of the output", lambda: "Finished in state Completed()" in browser.text("#logs")
    )
    browser.screenshot("run-completed")


def test_pause_and_unpause_from_the_deployment_page(
    cluster: Cluster,
    operator: OperatorProcess,
    dashboards: DashboardFactory,
    browser: Browser,
    marks: Path,
) -> None:
    gated_deployment(cluster, marks, "greeter", schedules=[DAILY])
    dashboard = dashboards.start()
    browser.open(f"{dashboard.url}/deployments/{cluster.namespace}/greeter")
    browser.click('button[data-action="Pause"]')
    browser.wait_for("Unpause offered", lambda: browser.texts('button[data-action="Unpause"]'))
    assert json_object(
        cluster.objects.get_namespaced_custom_object(
            "kflow.dev", "v1alpha1", cluster.namespace, "deployments", "greeter"
        )
    )["spec"]["paused"]
    assert "paused" in browser.text(".summary")
    browser.click('button[data-action="Unpause"]')
    browser.wait_for("Pause offered", lambda: browser.texts('button[data-action="Pause"]'))
    assert not json_object(
        cluster.objects.get_namespaced_custom_object(
            "kflow.dev", "v1alpha1", cluster.namespace, "deployments", "greeter"
        )
    )["spec"]["paused"]
