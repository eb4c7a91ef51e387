"""`kflow work-pool …`, `kflow deploy` with pools and `kflow flow-run inspect` against a real
API server: what each verb leaves in the WorkPool object, what the user reads, and that bad
input is refused with a sentence. No operator runs here; where a test needs a worker's
heartbeat it writes the pool's status through the status subresource, as an operator would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import GROUP, VERSION, Cluster
from tests.integration.dashboard_support import service_account_kubeconfig
from tests.support.custom_objects import json_object

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KFLOW = Path(sys.executable).parent / "kflow"
FLOW = "examples/example_flow.py:example_workflow"


def kflow(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KFLOW), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=dict(os.environ, KUBECONFIG=str(kubeconfig)),
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def get_pool(cluster: Cluster, name: str) -> dict[str, Any]:
    return json_object(
        cluster.objects.get_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, "workpools", name
        )
    )


def test_create_ls_pause_resume_limit_and_inspect(cluster: Cluster, kubeconfig: Path) -> None:
    ns = ("-n", cluster.namespace)
    empty = ok(kflow(kubeconfig, "work-pool", "ls", *ns))
    assert empty.startswith(f"No work pools in namespace {cluster.namespace}")

    created = kflow(
        kubeconfig, "work-pool", "create", "k8s", "--type", "kubernetes-job", "--limit", "2",
        "--image", "python:3.12", *ns,
    )  # fmt: skip
    assert (
        ok(created) == f"Created work pool k8s (kubernetes-job) in namespace {cluster.namespace}\n"
    )
    assert get_pool(cluster, "k8s")["spec"] == {
        "type": "kubernetes-job",
        "concurrencyLimit": 2,
        "infrastructure": {"image": "python:3.12"},
        "paused": False,  # the CRD's default
    }
    ok(kflow(kubeconfig, "work-pool", "create", "local", "--type", "process", "--paused", *ns))

    listing = ok(kflow(kubeconfig, "work-pool", "ls", *ns)).splitlines()
    assert listing[0].split() == [
        "NAME", "TYPE", "PAUSED", "LIMIT", "WORKERS", "RUNNING", "LATE", "READY", "AGE",
    ]  # fmt: skip
    assert listing[1].split()[:5] == ["k8s", "kubernetes-job", "false", "2", "0"]
    assert listing[2].split()[:5] == ["local", "process", "true", "none", "0"]

    assert "due runs wait (PoolPaused)" in ok(kflow(kubeconfig, "work-pool", "pause", "k8s", *ns))
    assert get_pool(cluster, "k8s")["spec"]["paused"] is True
    ok(kflow(kubeconfig, "work-pool", "resume", "local", *ns))
    assert get_pool(cluster, "local")["spec"]["paused"] is False
    ok(kflow(kubeconfig, "work-pool", "set-concurrency-limit", "local", "0", *ns))
    assert get_pool(cluster, "local")["spec"]["concurrencyLimit"] == 0
    ok(kflow(kubeconfig, "work-pool", "clear-concurrency-limit", "k8s", *ns))
    k8s = get_pool(cluster, "k8s")["spec"]
    assert "concurrencyLimit" not in k8s and k8s["infrastructure"] == {"image": "python:3.12"}

    # A worker's heartbeat, written as an operator writes it: ls counts it live.
    beat = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, cluster.namespace, "workpools", "k8s",
        {"status": {"workers": [{"identity": "op-1@node", "lastHeartbeatTime": beat}],
                    "runCounts": {"running": 1}, "lateRuns": 0}},
    )  # fmt: skip
    row = ok(kflow(kubeconfig, "work-pool", "ls", *ns)).splitlines()[1].split()
    assert row[:7] == ["k8s", "kubernetes-job", "true", "none", "1", "1", "0"]

    details = ok(kflow(kubeconfig, "work-pool", "inspect", "k8s", *ns))
    assert f"WorkPool     {cluster.namespace}/k8s" in details
    assert "Paused       yes: no run of the pool starts" in details
    assert "Workers      1 live of 1 recorded" in details
    assert any(line.split()[:1] == ["op-1@node"] and "yes" in line for line in details.splitlines())
    assert "  image: python:3.12" in details
    as_json = json.loads(ok(kflow(kubeconfig, "work-pool", "inspect", "k8s", "-o", "json", *ns)))
    assert as_json["status"]["workers"][0]["identity"] == "op-1@node"
    assert "managedFields" not in as_json["metadata"]

    ok(kflow(kubeconfig, "work-pool", "delete", "local", *ns))
    names = [p["metadata"]["name"] for p in yaml.safe_load(
        ok(kflow(kubeconfig, "work-pool", "ls", "-o", "yaml", *ns)))["items"]]  # fmt: skip
    assert names == ["k8s"]


def test_bad_input_is_refused_with_a_sentence(cluster: Cluster, kubeconfig: Path) -> None:
    ns = ("-n", cluster.namespace)
    missing = kflow(kubeconfig, "work-pool", "inspect", "nope", *ns)
    assert missing.returncode == 1
    assert missing.stderr == (
        f"error: work pool 'nope' not found in namespace {cluster.namespace} (kflow work-pool "
        f"ls -n {cluster.namespace} lists them; create it with kflow work-pool create nope "
        f"--type kubernetes-job|docker|process -n {cluster.namespace}; -n/--namespace picks "
        "another namespace)\n"
    )
    for verb in ("pause", "resume", "delete"):
        assert (
            "work pool 'nope' not found" in kflow(kubeconfig, "work-pool", verb, "nope", *ns).stderr
        )

    bad_type = kflow(kubeconfig, "work-pool", "create", "p", "--type", "k8s", *ns)
    assert bad_type.returncode == 2
    assert "invalid choice: 'k8s' (choose from 'kubernetes-job', 'docker', 'process')" in (
        bad_type.stderr
    )
    negative = kflow(kubeconfig, "work-pool", "set-concurrency-limit", "p", "-1", *ns)
    assert "-1 is negative; give a limit ≥ 0" in negative.stderr

    ok(kflow(kubeconfig, "work-pool", "create", "p", "--type", "process", *ns))
    again = kflow(kubeconfig, "work-pool", "create", "p", "--type", "docker", *ns)
    assert again.returncode == 1
    assert f"work pool 'p' already exists in namespace {cluster.namespace}" in again.stderr
    assert get_pool(cluster, "p")["spec"]["type"] == "process"
    for result in (missing, bad_type, negative, again):
        assert "Traceback" not in result.stderr


def test_deploy_with_a_pool_and_the_runs_effective_infrastructure(
    cluster: Cluster, kubeconfig: Path, tmp_path: Path
) -> None:
    path = tmp_path / "kflow.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "work_pools": [
                    {
                        "name": "k8s",
                        "type": "kubernetes-job",
                        "infrastructure": {
                            "image": "python:3.12",
                            "job": {"nodeSelector": {"disk": "ssd"}},
                        },
                    }
                ],
                "deployments": [
                    {
                        "name": "etl",
                        "entrypoint": FLOW,
                        "work_pool": {"name": "k8s", "job_variables": {"env": {"STAGE": "prod"}}},
                    },
                    {"name": "stray", "entrypoint": FLOW, "workPool": {"name": "nowhere"}},
                ],
            }
        )
    )
    result = kflow(kubeconfig, "deploy", "-f", str(path), "--all", "-n", cluster.namespace)
    assert ok(result).splitlines() == [
        f"workpool.kflow.dev/k8s applied in {cluster.namespace}",
        f"deployment.kflow.dev/etl applied in {cluster.namespace}",
        f"deployment.kflow.dev/stray applied in {cluster.namespace}",
    ]
    assert result.stderr.splitlines() == [
        f"kflow deploy: warning: work pool nowhere does not exist in {cluster.namespace}; runs "
        f"of stray wait (AwaitingWorkPool) until `kflow work-pool create nowhere --type "
        f"kubernetes-job|docker|process -n {cluster.namespace}` creates it"
    ]
    etl = json_object(
        cluster.objects.get_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, "deployments", "etl"
        )
    )
    assert etl["spec"]["workPool"] == {"name": "k8s"}
    assert etl["spec"]["infrastructure"] == {"env": {"STAGE": "prod"}}

    cluster.flowrun(
        "etl-1",
        {"deploymentRef": {"name": "etl"}, "infrastructure": {"env": {"DEBUG": "1"}}},
    )
    ns = ("-n", cluster.namespace)
    text = ok(kflow(kubeconfig, "flow-run", "inspect", "etl-1", *ns))
    assert "Work pool       k8s (named by Deployment etl)" in text
    section = text.split("Effective infrastructure")[1].splitlines()[2:6]
    rows = [re.split(r"\s{3,}", line.strip()) for line in section]
    assert rows == [
        ["type", "WorkPool k8s", "kubernetes-job"],
        ["image", "WorkPool k8s", "python:3.12"],
        ["env", "FlowRun etl-1 over Deployment etl", '{"DEBUG": "1", "STAGE": "prod"}'],
        ["job", "WorkPool k8s", '{"nodeSelector": {"disk": "ssd"}}'],
    ]
    document = json.loads(ok(kflow(kubeconfig, "flow-run", "inspect", "etl-1", "-o", "json", *ns)))
    effective = document["effectiveInfrastructure"]
    assert effective["workPool"] == "k8s"
    assert effective["infrastructure"]["env"] == {"STAGE": "prod", "DEBUG": "1"}
    assert effective["sources"]["image"] == "WorkPool k8s"

    cluster.flowrun(
        "etl-2", {"deploymentRef": {"name": "etl"}, "infrastructure": {"type": "docker"}}
    )
    conflict = ok(kflow(kubeconfig, "flow-run", "inspect", "etl-2", *ns))
    assert (
        "  cannot be decided: FlowRun etl-2 says infrastructure.type docker, but its WorkPool "
        "k8s runs kubernetes-job;" in conflict
    )
    cluster.flowrun("stray-1", {"deploymentRef": {"name": "stray"}})
    waiting = ok(kflow(kubeconfig, "flow-run", "inspect", "stray-1", *ns))
    assert f"WorkPool nowhere does not exist in namespace {cluster.namespace}" in waiting


def test_inspect_by_someone_who_may_not_read_pools_still_shows_the_run(
    cluster: Cluster, kubeconfig: Path, tmp_path: Path
) -> None:
    """RBAC that lets a person read runs and Deployments but not pools: the run is shown, and
    its infrastructure says why it cannot be decided instead of failing the command."""
    cluster.apply(
        f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: reader, namespace: {cluster.namespace}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: reader, namespace: {cluster.namespace}}}
rules:
  - apiGroups: [kflow.dev]
    resources: [flowruns, deployments]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: reader, namespace: {cluster.namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}
subjects: [{{kind: ServiceAccount, name: reader, namespace: {cluster.namespace}}}]
"""
    )
    cluster.deployment("etl", {"entrypoint": FLOW, "workPool": {"name": "k8s"}})
    cluster.flowrun("etl-1", {"deploymentRef": {"name": "etl"}})
    reader = service_account_kubeconfig(cluster, kubeconfig, tmp_path, "reader")
    text = ok(kflow(reader, "flow-run", "inspect", "etl-1", "-n", cluster.namespace))
    assert f"FlowRun         {cluster.namespace}/etl-1" in text
    assert "Work pool       unknown" in text
    assert "  cannot be decided: cannot read the run's Deployment or WorkPool: " in text
    assert 'workpools.kflow.dev "k8s" is forbidden' in text
