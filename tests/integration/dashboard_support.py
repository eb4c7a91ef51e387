"""What the dashboard's browser tests share: a Deployment of the `gated` flow whose runs move
from state to state only when the test says so, so that every state can be seen in the page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from kflow.cli.flow_signature import load_flow_function, parameter_schema
from kubernetes import client

from tests.integration.conftest import FLOWS, Cluster

KFLOW = Path(sys.executable).parent / "kflow"
GATED = "dashboard_flows.py:gated"
LIVE_SECONDS = 1.0
"""How soon a change the API server has must show in an open page."""


def gate_command(marks: Path) -> list[str]:
    """`kflow execute` started only once the mark file `launch` exists (at most 2 minutes
    later), so the run stays PENDING until the test creates it."""
    wait = (
        'i=0; while [ ! -e "$TEST_MARKS/launch" ] && [ $i -lt 2400 ]; '
        "do sleep 0.05; i=$((i+1)); done"
    )
    return ["/bin/sh", "-c", f'{wait}; exec "{KFLOW}" execute']


def gated_deployment(
    cluster: Cluster, marks: Path, name: str, entrypoint: str = GATED, **spec: Any
) -> None:
    """A Deployment of a flow of dashboard_flows.py (the gated one unless told), with the
    parameter schema `kflow deploy` would write."""
    schema = parameter_schema(load_flow_function(entrypoint, FLOWS))
    cluster.deployment(
        name,
        {
            "entrypoint": entrypoint,
            "parameterSchema": schema,
            "infrastructure": {
                "type": "process",
                "command": gate_command(marks),
                "env": {"TEST_MARKS": str(marks), "KFLOW_HOME": str(marks.parent / "home")},
                "process": {"workingDirectory": str(FLOWS)},
            },
            **spec,
        },
    )


def view_only_kubeconfig(
    cluster: Cluster,
    admin_kubeconfig: Path,
    directory: Path,
    resources: tuple[str, ...] = ("flowruns", "deployments"),
) -> Path:
    """A kubeconfig of a ServiceAccount that may read `resources` of kflow.dev and Events in
    the test's namespace and change nothing, with a token from the TokenRequest API."""
    namespace = cluster.namespace
    items: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "kflow-viewer"},
            "rules": [
                {
                    "apiGroups": ["kflow.dev"],
                    "resources": list(resources),
                    "verbs": ["get", "list", "watch"],
                },
                {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "kflow-viewer"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "kflow-viewer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
        },
    ]
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": items})
    return service_account_kubeconfig(cluster, admin_kubeconfig, directory, "viewer")


def service_account_kubeconfig(
    cluster: Cluster, admin_kubeconfig: Path, directory: Path, account: str
) -> Path:
    """A kubeconfig acting as ServiceAccount `account` of the test's namespace, with a token
    from the TokenRequest API (what a pod of that account would use)."""
    namespace = cluster.namespace
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    answer = cluster.core.create_namespaced_service_account_token(account, namespace, request)
    assert answer.status is not None, f"no token issued for {account}"
    token = answer.status.token
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    (entry,) = admin["clusters"]
    path = directory / f"{account}.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [entry],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [
                    {
                        "name": account,
                        "context": {
                            "cluster": entry["name"],
                            "user": account,
                            "namespace": namespace,
                        },
                    }
                ],
                "current-context": account,
            }
        )
    )
    return path


def account_with_rules(cluster: Cluster, name: str, rules: list[dict[str, Any]]) -> None:
    """ServiceAccount `name` of the test's namespace with a Role of `rules` there."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name}, "rules": rules}  # fmt: skip
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": cluster.namespace}],
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": [account, role, binding]})


def token_of(kubeconfig: Path) -> str:
    """The bearer token of a kubeconfig written by service_account_kubeconfig."""
    return str(yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"])
