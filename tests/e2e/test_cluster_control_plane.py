"""Tier 1: the API server accepts a CRD and serves objects of it, as kubectl users see it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import paths
from tests.cluster.kubectl import Kubectl, poll
from tests.cluster.versions import KUBERNETES_VERSION

pytestmark = pytest.mark.integration

_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.clustertest.kflow.dev
spec:
  group: clustertest.kflow.dev
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              x-kubernetes-validations:
                - rule: "self.size >= 0"
                  message: "size must not be negative"
              properties:
                size: {type: integer}
"""


@pytest.fixture
def namespace(kubeconfig: Path) -> Iterator[Kubectl]:
    name = f"cluster-test-{uuid.uuid4().hex[:8]}"
    admin = Kubectl(kubeconfig)
    admin.run("create", "namespace", name)
    yield admin.in_namespace(name)
    admin.run("delete", "namespace", name, "--wait=false")


def test_api_server_reports_the_pinned_version(kubeconfig: Path) -> None:
    version = json.loads(Kubectl(kubeconfig).run("version", "-o", "json"))["serverVersion"]
    if kubeconfig == paths.admin_kubeconfig():
        assert version["gitVersion"] == KUBERNETES_VERSION
    assert version["major"] == "1"


def test_crd_and_namespaced_object_apply_and_read_back(namespace: Kubectl) -> None:
    namespace.apply(_CRD)
    poll(
        "CRD gadgets established",
        lambda: (
            "Established=True"
            in namespace.run(
                "get",
                "crd",
                "gadgets.clustertest.kflow.dev",
                "-o",
                'jsonpath={range .status.conditions[*]}{.type}={.status}{"\\n"}{end}',
            )
        ),
        timeout=30,
    )
    gadget = "apiVersion: clustertest.kflow.dev/v1\nkind: Gadget\nmetadata: {name: g1}\n"
    poll("Gadget g1 created", lambda: namespace.apply(gadget + "spec: {size: 3}\n"), timeout=30)

    stored = namespace.get_json("gadget", "g1")
    assert stored["spec"] == {"size": 3}
    assert stored["metadata"]["namespace"] == namespace.namespace

    with pytest.raises(Exception, match="size must not be negative"):
        namespace.apply(gadget.replace("g1", "g2") + "spec: {size: -1}\n")
