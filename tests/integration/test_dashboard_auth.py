"""`kflow dashboard --auth token` in a real browser: nothing without a token the API server
accepts (TokenReview), nothing for a person who may not list FlowRuns (SubjectAccessReview),
and actions sent with the person's own token, so RBAC decides as for kubectl."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import Cluster, OperatorProcess
from tests.integration.dashboard_support import (
    account_with_rules,
    gated_deployment,
    service_account_kubeconfig,
    token_of,
    view_only_kubeconfig,
)
from tests.support.browser import Browser
from tests.support.dashboard import DashboardProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

RUN_STATE = ".run-state .state"


def status_of(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, method="GET")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def sign_in(browser: Browser, url: str, token: str) -> None:
    """Sign in and wait for the answer: the page signing in leads to, or a refusal."""
    if browser.text("h1") != "Sign in":
        browser.driver.get(f"{url}/login")
    browser.wait_for("the sign-in page", lambda: browser.text("h1") == "Sign in")
    browser.find('textarea[name="token"]').send_keys(token)
    browser.click('button[data-action="Sign in"]')
    browser.wait_for(
        "the answer to signing in",
        lambda: browser.text("h1") != "Sign in" or browser.text(".banner-error"),
    )


def sign_out(browser: Browser) -> None:
    browser.click('button[data-action="Sign out"]')
    browser.wait_for("signed out", lambda: browser.text("h1") == "Sign in")


def test_token_auth_lets_rbac_decide_who_sees_and_who_acts(
    cluster: Cluster,
    operator: OperatorProcess,
    browser: Browser,
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    gated_deployment(cluster, marks, "greeter", cancelGracePeriodSeconds=5)
    (marks / "launch").touch()
    cluster.flowrun("r", {"deploymentRef": {"name": "greeter"}, "parameters": {"label": "x"}})
    cluster.wait_state("r", "RUNNING", timeout=60)
    viewer = token_of(view_only_kubeconfig(cluster, kubeconfig, tmp_path))
    account_with_rules(cluster, "nobody", [])
    nobody = token_of(service_account_kubeconfig(cluster, kubeconfig, tmp_path, "nobody"))
    read = {"apiGroups": ["kflow.dev"], "resources": ["flowruns", "deployments"],
            "verbs": ["get", "list", "watch", "patch"]}  # fmt: skip
    account_with_rules(cluster, "actor", [read])
    actor = token_of(service_account_kubeconfig(cluster, kubeconfig, tmp_path, "actor"))

    dashboard = DashboardProcess.launch(
        ["--namespace", cluster.namespace, "--auth", "token"],
        {"KUBECONFIG": str(kubeconfig)},
        tmp_path / "dashboard.log",
    )
    try:
        page = f"{dashboard.url}/runs/{cluster.namespace}/r"
        assert status_of(f"{dashboard.url}/events") == 401
        assert status_of(f"{page}?fragment=live") == 401
        assert status_of(f"{page}?fragment=live", "not-a-token") == 401
        assert status_of(f"{page}?fragment=live", viewer) == 200

        browser.driver.get(page)
        browser.wait_for("sent to sign in", lambda: browser.text("h1") == "Sign in")
        sign_in(browser, dashboard.url, "not-a-token")
        assert "did not accept this token" in browser.wait_for(
            "the refusal", lambda: browser.text(".banner-error")
        )

        sign_in(browser, dashboard.url, nobody)
        browser.wait_for("the 403 page", lambda: browser.text("h1") == "Not allowed")
        message = browser.text(".banner-error")
        assert f"You are system:serviceaccount:{cluster.namespace}:nobody" in message
        assert "may not list FlowRuns" in message
        sign_out(browser)  # also someone who may see nothing may sign out

        sign_in(browser, dashboard.url, viewer)
        browser.driver.get(page)
        browser.wait_for("the run", lambda: browser.attribute(RUN_STATE, "data-state") == "RUNNING")
        assert f":{cluster.namespace}:viewer" in browser.text(".person")
        browser.click('button[data-action="Cancel"]')
        message = browser.wait_for("the API server's 403", lambda: browser.text(".banner-error"))
        assert "403 Forbidden" in message and f"{cluster.namespace}:viewer" in message
        assert not cluster.get_flowrun("r")["spec"].get("cancel")
        browser.screenshot("auth-viewer-refused")
        sign_out(browser)

        sign_in(browser, dashboard.url, actor)
        browser.driver.get(page)
        browser.wait_for("the run", lambda: browser.attribute(RUN_STATE, "data-state") == "RUNNING")
        browser.click('button[data-action="Cancel"]')
        browser.wait_for(
            "CANCELLED", lambda: browser.attribute(RUN_STATE, "data-state") == "CANCELLED", 30
        )
        wait_until("spec.cancel", lambda: cluster.get_flowrun("r")["spec"].get("cancel"))
    finally:
        dashboard.stop()
        print(dashboard.log()[-4000:])
