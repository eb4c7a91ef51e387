"""Deployments carry no finalizer of the operator's: a Deployment needs no clean-up when it goes,
a finalizer held its deletion while no operator ran, and adding it was one PATCH per Deployment
on its own TLS connection (most of the operator's memory with hundreds of Deployments). One
left by an earlier version is taken off."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import GROUP, VERSION, Cluster, OperatorFactory, wait_until
from tests.integration.schedules_support import (
    PROCESS_ONLY,
    get_deployment,
    runs_of,
    shell_schedule_deployment,
)
from tests.support.custom_objects import items_of

pytestmark = pytest.mark.integration

FINALIZER = f"{GROUP}/finalizer"


def finalizers(cluster: Cluster, name: str) -> list[str]:
    found: list[str] = get_deployment(cluster, name)["metadata"].get("finalizers") or []
    return found


def test_deployments_carry_no_finalizer_and_can_be_deleted_with_no_operator(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Deployment",
        "metadata": {"name": "earlier", "namespace": cluster.namespace, "finalizers": [FINALIZER]},
        "spec": {
            "entrypoint": "flows.py:main",
            "infrastructure": {"type": "process", "command": ["/bin/sh", "-c", "exit 0"]},
        },
    }
    cluster.objects.create_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "deployments", body
    )
    shell_schedule_deployment(cluster, "d", "exit 0", [{"interval": 2}])
    operator = operators.start(*PROCESS_ONLY)

    wait_until(
        "the earlier version's finalizer taken off", lambda: not finalizers(cluster, "earlier")
    )
    wait_until("the Deployment scheduled", lambda: runs_of(cluster, "d"), timeout=30)
    assert FINALIZER not in finalizers(cluster, "d")

    operator.sigkill()
    cluster.kubectl.run(
        "delete", "deployment.kflow.dev", "d", "--wait=true", "--timeout=20s", timeout=30
    )
    listed = items_of(
        cluster.objects.list_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, "deployments"
        )
    )
    assert "d" not in [d["metadata"]["name"] for d in listed]
