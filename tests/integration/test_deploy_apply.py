"""`kflow deploy` against a real API server: --dry-run output that kubectl applies, and
server-side apply as field manager kflow-deploy that the operator then schedules."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import Cluster, OperatorFactory, wait_until
from tests.integration.schedules_support import PROCESS_ONLY, get_deployment, parse, runs_of
from tests.support.custom_objects import items_of

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KFLOW = Path(sys.executable).parent / "kflow"


def kflow(kubeconfig: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KFLOW), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=dict(os.environ, KUBECONFIG=str(kubeconfig)),
        check=False,
    )


def test_dry_run_output_is_accepted_by_kubectl_apply(cluster: Cluster, kubeconfig: Path) -> None:
    result = kflow(kubeconfig, "deploy", "-f", "examples/kflow.yaml", "--all", "--dry-run")
    assert result.returncode == 0, result.stderr
    cluster.kubectl.apply(result.stdout)
    spec = get_deployment(cluster, "example-deployment")["spec"]
    assert spec["schedules"] == [{"cron": "0 9 * * *", "timezone": "UTC", "active": True}]
    assert set(spec["parameterSchema"]["properties"]) == {"name", "numbers"}


def test_deploy_applies_server_side_and_the_operator_schedules_it(
    cluster: Cluster, kubeconfig: Path, operators: OperatorFactory
) -> None:
    operators.start(*PROCESS_ONLY)
    result = kflow(
        kubeconfig, "deploy", "-f", "examples/kflow.yaml", "--all", "-n", cluster.namespace
    )
    assert result.returncode == 0, result.stderr
    assert f"deployment.kflow.dev/example-deployment applied in {cluster.namespace}" in (
        result.stdout
    )
    deployment = get_deployment(cluster, "example-deployment")
    managers = {(m["manager"], m["operation"]) for m in deployment["metadata"]["managedFields"]}
    assert ("kflow-deploy", "Apply") in managers

    def next_nine_oclock() -> Any:
        status = get_deployment(cluster, "example-deployment").get("status") or {}
        return status.get("nextScheduleTime")

    upcoming = parse(wait_until("nextScheduleTime", next_nine_oclock, timeout=30))
    now = datetime.now(UTC)
    assert (upcoming.hour, upcoming.minute, upcoming.second) == (9, 0, 0)
    assert now < upcoming <= now + timedelta(days=1)
    wait_until(
        "three upcoming FlowRuns of example-deployment",
        lambda: len(runs_of(cluster, "example-deployment")) == 3,
        timeout=30,
    )


def test_redeploying_updates_and_removes_exactly_the_fields_kflow_yaml_sets(
    cluster: Cluster, kubeconfig: Path, tmp_path: Path
) -> None:
    document = yaml.safe_load((ROOT / "examples" / "kflow.yaml").read_text())
    entry = document["deployments"][0]
    path = tmp_path / "kflow.yaml"
    path.write_text(yaml.safe_dump(document))
    first = kflow(
        kubeconfig, "deploy", "-f", str(path), "example-deployment", "-n", cluster.namespace
    )
    assert first.returncode == 0, first.stderr

    entry["parameters"]["name"] = "again"
    del entry["tags"]
    path.write_text(yaml.safe_dump(document))
    second = kflow(kubeconfig, "deploy", "-f", str(path), "--all", "-n", cluster.namespace)
    assert second.returncode == 0, second.stderr
    spec = get_deployment(cluster, "example-deployment")["spec"]
    assert spec["parameters"]["name"] == "again"
    assert "tags" not in spec


def test_an_invalid_deployment_applies_nothing_and_says_where(
    cluster: Cluster, kubeconfig: Path, tmp_path: Path
) -> None:
    path = tmp_path / "kflow.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "deployments": [
                    {
                        "name": "good",
                        "entrypoint": "examples/example_flow.py:example_workflow",
                    },
                    {
                        "name": "bad",
                        "entrypoint": "examples/example_flow.py:example_workflow",
                        "schedule": {"cron": "every day"},
                    },
                ]
            }
        )
    )
    result = kflow(kubeconfig, "deploy", "-f", str(path), "--all", "-n", cluster.namespace)
    assert result.returncode == 2
    assert f"{path}: deployment bad: schedule.cron: " in result.stderr
    items = items_of(
        cluster.objects.list_namespaced_custom_object(
            "kflow.dev", "v1alpha1", cluster.namespace, "deployments"
        )
    )
    assert items == []
