"""Tier 2: the node runs pods from local images, and pods reach the API in-cluster."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.images import PYTHON_BASE_IMAGE
from tests.cluster.kubectl import Kubectl, poll

pytestmark = pytest.mark.e2e


@pytest.fixture
def namespace(node_cluster: Path) -> Iterator[Kubectl]:
    name = f"cluster-test-{uuid.uuid4().hex[:8]}"
    admin = Kubectl(node_cluster)
    admin.run("create", "namespace", name)
    poll(
        f"default service account in {name}",
        lambda: admin.in_namespace(name).run("get", "serviceaccount", "default"),
        timeout=30,
    )
    yield admin.in_namespace(name)
    admin.run("delete", "namespace", name, "--wait=false")


def test_node_is_ready(node_cluster: Path) -> None:
    nodes = Kubectl(node_cluster).get_json("nodes")["items"]
    ready = {
        n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
        for n in nodes
    }
    assert ready, "the cluster has no nodes"
    assert all(status == "True" for status in ready.values()), ready


def test_job_runs_the_python_base_image_and_its_log_is_readable(namespace: Kubectl) -> None:
    namespace.apply(
        f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: hello}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: {PYTHON_BASE_IMAGE}
          imagePullPolicy: IfNotPresent
          command: ["python", "-c", "import sys; print('hello from', sys.version_info[:2])"]
"""
    )
    namespace.run("wait", "--for=condition=complete", "job/hello", "--timeout=120s", timeout=130)
    assert "hello from (3, 11)" in namespace.run("logs", "job/hello")


_LIST_PODS = r"""
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
namespace = open(f"{sa}/namespace").read()
request = urllib.request.Request(
    f"https://{host}:{port}/api/v1/namespaces/{namespace}/pods",
    headers={"Authorization": "Bearer " + open(f"{sa}/token").read()},
)
context = ssl.create_default_context(cafile=f"{sa}/ca.crt")
pods = json.load(urllib.request.urlopen(request, context=context, timeout=10))
print("API", host, "PODS", " ".join(p["metadata"]["name"] for p in pods["items"]))
"""


def test_pod_lists_pods_of_its_namespace_with_in_cluster_config(namespace: Kubectl) -> None:
    namespace.apply(
        """
apiVersion: v1
kind: ServiceAccount
metadata: {name: lister}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-lister}
rules:
  - {apiGroups: [""], resources: [pods], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: lister-lists-pods}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-lister}
subjects:
  - {kind: ServiceAccount, name: lister}
"""
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "in-cluster"},
        "spec": {
            "serviceAccountName": "lister",
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": PYTHON_BASE_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", _LIST_PODS],
                }
            ],
        },
    }

    namespace.apply(json.dumps(pod))
    phase = poll(
        "pod in-cluster finished",
        lambda: (
            namespace.run("get", "pod", "in-cluster", "-o", "jsonpath={.status.phase}")
            in ("Succeeded", "Failed")
            and namespace.run("get", "pod", "in-cluster", "-o", "jsonpath={.status.phase}")
        ),
        timeout=120,
    )
    log = namespace.run("logs", "in-cluster")
    assert phase == "Succeeded", log
    assert "API 10.96.0.1 PODS" in log
    assert "in-cluster" in log.split("PODS", 1)[1].split()
