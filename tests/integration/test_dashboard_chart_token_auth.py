"""The rights the chart gives an exposed dashboard (`dashboard.tokenAuth`, as its Ingress
requires), tried for real: `kflow dashboard --auth token` runs with the chart's ServiceAccount's
token. Without the chart's binding to system:auth-delegator it cannot review anyone's token,
and every page says what its account lacks; with it, a person's token signs them in."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.integration.conftest import Cluster
from tests.integration.dashboard_support import (
    service_account_kubeconfig,
    token_of,
    view_only_kubeconfig,
)
from tests.support.chart import render
from tests.support.dashboard import DashboardFactory, DashboardProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ACCOUNT = "kflow-dashboard"


def fetch(url: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def chart_objects(cluster: Cluster) -> list[dict[str, Any]]:
    """The chart's dashboard objects for an exposed dashboard limited to the test's
    namespace (its Deployment and Ingress need an image and a controller this tier lacks)."""
    values: dict[str, str | int | bool] = {
        "dashboard.enabled": True,
        "dashboard.namespace": cluster.namespace,
        "dashboard.tokenAuth": True,
        "dashboard.ingress.enabled": True,
        "dashboard.ingress.hosts[0].host": "kflow.example.com",
    }
    chart = render(values, namespace=cluster.namespace)
    assert chart.of_kind("Ingress")
    return [
        o
        for o in chart.objects
        if o["metadata"]["name"].startswith(ACCOUNT)
        and o["kind"] in ("ServiceAccount", "Role", "RoleBinding", "ClusterRoleBinding")
    ]


def test_the_charts_exposed_dashboard_reviews_tokens_only_with_its_binding(
    cluster: Cluster,
    dashboards: DashboardFactory,
    kubeconfig: Path,
    tmp_path: Path,
    api_client: client.ApiClient,
) -> None:
    objects = chart_objects(cluster)
    (delegation,) = [o for o in objects if o["kind"] == "ClusterRoleBinding"]
    namespaced = [o for o in objects if o["kind"] != "ClusterRoleBinding"]
    assert len(namespaced) == 3
    cluster.apply("---\n".join(yaml.safe_dump(o) for o in namespaced))
    account = service_account_kubeconfig(cluster, kubeconfig, tmp_path, ACCOUNT)
    viewer = token_of(view_only_kubeconfig(cluster, kubeconfig, tmp_path))
    dashboard = DashboardProcess.launch(
        ["--namespace", cluster.namespace, "--auth", "token"],
        {"KUBECONFIG": str(account)},
        tmp_path / "dashboard.log",
    )
    dashboards.started.append(dashboard)
    page = f"{dashboard.url}/runs"

    status, body = fetch(page, viewer)
    assert status == 503, body
    assert "may not check who you are" in body
    assert "bind it to the ClusterRole system:auth-delegator" in body

    rbac = client.RbacAuthorizationV1Api(api_client)
    delegation["metadata"]["name"] = f"{ACCOUNT}-auth-delegator-{cluster.namespace}"
    cluster.apply(yaml.safe_dump(delegation))
    try:
        # The API server's RBAC authorizer learns of the binding through its own watch.
        status, body = wait_until(
            "the viewer signed in", lambda: (answer := fetch(page, viewer))[0] == 200 and answer
        )
        assert f"system:serviceaccount:{cluster.namespace}:viewer" in body
    finally:
        rbac.delete_cluster_role_binding(delegation["metadata"]["name"])
