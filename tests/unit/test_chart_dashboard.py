"""The chart's dashboard (`dashboard.enabled`): its own ServiceAccount, read-only unless
actions are enabled, one namespace or all, reached by port-forward."""

from __future__ import annotations

from typing import Any

from tests.support.chart import HelmError, render
from tests.unit.test_chart_render import granted

ON = {"dashboard.enabled": True}


def dashboard_objects(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    chart = render(values)
    return {o["kind"]: o for o in chart.objects if o["metadata"]["name"].endswith("-dashboard")}


def test_off_by_default() -> None:
    assert dashboard_objects({}) == {}


def test_read_only_over_every_namespace_unless_actions_are_enabled() -> None:
    objects = dashboard_objects(ON)
    assert set(objects) == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    }
    role = objects["ClusterRole"]
    assert granted(role, "kflow.dev", "flowruns") == {"get", "list", "watch"}
    assert granted(role, "kflow.dev", "deployments") == {"get", "list", "watch"}
    assert granted(role, "", "pods/log") == {"get"}
    assert objects["ClusterRoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "kflow-dashboard", "namespace": "kflow-system"}
    ]
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["serviceAccountName"] == "kflow-dashboard"
    assert container["command"] == ["kflow"]
    assert container["args"] == ["dashboard", "--port=4200", "--all-namespaces"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert objects["Service"]["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 4200}]
    selector = objects["Service"]["spec"]["selector"]
    assert selector["app.kubernetes.io/component"] == "dashboard"

    acting = dashboard_objects({**ON, "dashboard.actions.enabled": True})["ClusterRole"]
    assert granted(acting, "kflow.dev", "flowruns") == {"get", "list", "watch", "create", "patch"}
    assert granted(acting, "kflow.dev", "deployments") == {"get", "list", "watch", "patch"}


def test_one_namespace_gets_a_role_there() -> None:
    objects = dashboard_objects({**ON, "dashboard.namespace": "team-a", "dashboard.port": 8400})
    assert objects["Role"]["metadata"]["namespace"] == "team-a"
    assert objects["RoleBinding"]["metadata"]["namespace"] == "team-a"
    assert "ClusterRole" not in objects
    (container,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["dashboard", "--port=8400", "--namespace=team-a"]


def test_bad_dashboard_values_are_refused_by_name() -> None:
    for values, expected in (
        ({"dashboard.port": 80}, "dashboard.port: Must be greater than or equal to 1024"),
        ({"dashboard.namespace": "Team_A"}, "dashboard.namespace: Does not match pattern"),
        ({"dashboard.action.enabled": True}, "Additional property action is not allowed"),
    ):
        try:
            render(values)
        except HelmError as error:
            assert expected in str(error)
        else:
            raise AssertionError(f"{values} was accepted")


def test_token_auth_listens_for_others_and_may_review_tokens() -> None:
    chart = render({**ON, "dashboard.tokenAuth": True})
    (deployment,) = [
        o for o in chart.of_kind("Deployment") if o["metadata"]["name"] == "kflow-dashboard"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][-2:] == ["--listen=0.0.0.0", "--auth=token"]
    (delegation,) = [
        o
        for o in chart.of_kind("ClusterRoleBinding")
        if o["metadata"]["name"] == "kflow-dashboard-auth-delegator"
    ]
    assert delegation["roleRef"]["name"] == "system:auth-delegator"
    assert delegation["subjects"][0]["name"] == "kflow-dashboard"
    assert "kflow-dashboard-auth-delegator" not in {
        o["metadata"]["name"] for o in render(ON).of_kind("ClusterRoleBinding")
    }


EXPOSED: dict[str, str | int | bool] = {
    **ON,
    "dashboard.tokenAuth": True,
    "dashboard.ingress.enabled": True,
    "dashboard.ingress.className": "nginx",
    "dashboard.ingress.hosts[0].host": "kflow.example.com",
    "dashboard.ingress.tls[0].secretName": "kflow-dashboard-tls",
    "dashboard.ingress.tls[0].hosts[0]": "kflow.example.com",
    "dashboard.ingress.annotations.cert-manager\\.io/cluster-issuer": "letsencrypt",
}


def test_an_ingress_reaches_the_dashboard_only_through_token_auth() -> None:
    chart = render(EXPOSED)
    (ingress,) = chart.of_kind("Ingress")
    assert ingress["metadata"]["name"] == "kflow-dashboard"
    assert ingress["metadata"]["namespace"] == "kflow-system"
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"secretName": "kflow-dashboard-tls", "hosts": ["kflow.example.com"]}]
    (rule,) = spec["rules"]
    assert rule["host"] == "kflow.example.com"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    service = dashboard_objects(EXPOSED)["Service"]
    assert path["backend"]["service"] == {
        "name": service["metadata"]["name"],
        "port": {"name": "http"},
    }
    assert "http" in {p["name"] for p in service["spec"]["ports"]}

    (deployment,) = [
        o for o in chart.of_kind("Deployment") if o["metadata"]["name"] == "kflow-dashboard"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--auth=token" in container["args"] and "--listen=0.0.0.0" in container["args"]
    (delegation,) = [
        o
        for o in chart.of_kind("ClusterRoleBinding")
        if o["metadata"]["name"] == "kflow-dashboard-auth-delegator"
    ]
    # system:auth-delegator: create on tokenreviews and subjectaccessreviews, cluster-wide.
    assert delegation["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:auth-delegator",
    }
    assert delegation["subjects"] == [
        {"kind": "ServiceAccount", "name": "kflow-dashboard", "namespace": "kflow-system"}
    ]
    assert not render(ON).of_kind("Ingress")


def test_an_ingress_to_a_dashboard_without_token_auth_is_refused_with_the_value_to_set() -> None:
    refusals: tuple[tuple[dict[str, str | int | bool], str], ...] = (
        (
            {**EXPOSED, "dashboard.tokenAuth": False},
            "so it must ask every request for a Kubernetes bearer token: "
            "set dashboard.tokenAuth=true",
        ),
        (
            {**EXPOSED, "dashboard.enabled": False},
            "dashboard.ingress.enabled is true but dashboard.enabled is false: "
            "set dashboard.enabled=true",
        ),
        (
            {k: v for k, v in EXPOSED.items() if ".hosts[0]" not in k or ".tls" in k},
            "dashboard.ingress.hosts is empty: list at least one host",
        ),
        (
            {**EXPOSED, "dashboard.ingress.hosts[0].paths[0].path": "/kflow"},
            "Additional property paths is not allowed",
        ),
    )
    for values, expected in refusals:
        try:
            render(values)
        except HelmError as error:
            assert expected in str(error)
        else:
            raise AssertionError(f"{values} was accepted")
