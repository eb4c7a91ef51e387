"""The chart's work pools (`workPools:`), the worker values that become operator flags, and the
rights pools need, rendered with helm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart import CHART, HelmError, Rendered, helm, render
from tests.unit.test_chart_render import args_of, granted


def render_values(tmp_path: Path, values: dict[str, Any], **flags: Any) -> Rendered:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return render(flags, "-f", str(path))


def pools(chart: Rendered) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (o["metadata"]["namespace"], o["metadata"]["name"], o["spec"])
        for o in chart.of_kind("WorkPool")
    ]


def test_by_default_one_pool_default_of_the_enabled_launcher_in_the_release_namespace() -> None:
    assert pools(render()) == [
        (
            "kflow-system",
            "default",
            {"type": "kubernetes-job", "description": "The chart's default pool"},
        )
    ]
    docker = render({"launchers.kubernetesJob.enabled": False, "launchers.docker.enabled": True})
    assert [spec["type"] for _, _, spec in pools(docker)] == ["docker"]


def test_served_namespaces_each_get_the_pool() -> None:
    chart = render({"watchNamespaces": "{team-a,team-b}"})
    assert [(ns, name) for ns, name, _ in pools(chart)] == [
        ("team-a", "default"),
        ("team-b", "default"),
    ]


def test_empty_list_creates_none(tmp_path: Path) -> None:
    assert pools(render_values(tmp_path, {"workPools": []})) == []


def test_listed_pools_render_only_the_keys_set(tmp_path: Path) -> None:
    chart = render_values(
        tmp_path,
        {
            "launchers": {"process": {"enabled": True}},
            "workPools": [
                {
                    "name": "gpu",
                    "type": "kubernetes-job",
                    "namespaces": ["ml"],
                    "concurrencyLimit": 0,
                    "paused": True,
                    "infrastructure": {
                        "image": "flows:1",
                        "job": {
                            "nodeSelector": {"gpu": "a100"},
                            "tolerations": [{"key": "gpu", "effect": "NoSchedule"}],
                        },
                    },
                },
                {"name": "local", "type": "process"},
            ],
        },
    )
    assert pools(chart) == [
        (
            "ml",
            "gpu",
            {
                "type": "kubernetes-job",
                "concurrencyLimit": 0,
                "paused": True,
                "infrastructure": {
                    "image": "flows:1",
                    "job": {
                        "nodeSelector": {"gpu": "a100"},
                        "tolerations": [{"key": "gpu", "effect": "NoSchedule"}],
                    },
                },
            },
        ),
        ("kflow-system", "local", {"type": "process"}),
    ]
    (gpu,) = [o for o in chart.of_kind("WorkPool") if o["metadata"]["name"] == "gpu"]
    assert gpu["apiVersion"] == "kflow.dev/v1alpha1"
    assert gpu["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kflow"


@pytest.mark.parametrize("values", [{}, {"watchNamespaces": "{team-a}"}])
def test_the_operator_may_read_and_write_pools_and_their_status(
    values: dict[str, str | int | bool],
) -> None:
    chart = render(values)
    role = chart.one("Role", "team-a") if values else chart.one("ClusterRole")
    verbs = {"get", "list", "watch", "patch", "update"}
    assert granted(role, "kflow.dev", "workpools") >= verbs
    assert granted(role, "kflow.dev", "workpools/status") >= verbs


def test_the_dashboard_may_read_pools() -> None:
    chart = render({"dashboard.enabled": True})
    (role,) = [
        o for o in chart.of_kind("ClusterRole") if o["metadata"]["name"].endswith("-dashboard")
    ]
    assert granted(role, "kflow.dev", "workpools") == {"get", "list", "watch"}


def test_worker_values_become_operator_flags_only_when_set() -> None:
    plain = args_of(render())
    assert not [a for a in plain if a.startswith(("--work-pool", "--worker-"))]
    args = args_of(
        render(
            {
                "worker.pools": "{gpu,default}",
                "worker.heartbeatSeconds": 5,
                "worker.timeoutSeconds": 20,
            }
        )
    )
    assert [a for a in args if a.startswith(("--work-pool", "--worker-"))] == [
        "--work-pool=gpu",
        "--work-pool=default",
        "--worker-heartbeat-seconds=5",
        "--worker-timeout-seconds=20",
    ]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"workPools": [{"name": "p", "type": "k8s"}]}, "workPools.0.type must be one of"),
        ({"workPools": [{"name": "P_1"}]}, "workPools.0.name: Does not match pattern"),
        (
            {"workPools": [{"name": "p", "concurrencyLimit": -1}]},
            "workPools.0.concurrencyLimit: Must be greater than or equal to 0",
        ),
        ({"workPools": [{"name": "p", "limit": 3}]}, "Additional property limit is not allowed"),
        ({"workPools": [{"type": "process"}]}, "workPools.0: name is required"),
        ({"worker": {"heartbeatSeconds": 0}}, "worker.heartbeatSeconds: Must be greater than"),
    ],
)
def test_the_schema_refuses_bad_pool_values_naming_them(
    tmp_path: Path, values: dict[str, Any], expected: str
) -> None:
    with pytest.raises(HelmError) as refused:
        render_values(tmp_path, values)
    assert expected in str(refused.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"workPools": [{"name": "d", "type": "docker"}]},
            "workPools[0] (d) is of type docker, but that launcher is not enabled "
            "(launchers: kubernetes-job)",
        ),
        (
            {"workPools": [{"name": "a"}, {"name": "a"}]},
            "workPools lists pool a twice",
        ),
        (
            {"worker": {"heartbeatSeconds": 30, "timeoutSeconds": 30}},
            "worker.timeoutSeconds (30) must be longer than worker.heartbeatSeconds (30)",
        ),
    ],
)
def test_combinations_that_cannot_work_are_refused(
    tmp_path: Path, values: dict[str, Any], expected: str
) -> None:
    with pytest.raises(HelmError) as refused:
        render_values(tmp_path, values)
    assert expected in str(refused.value)


def test_helm_lint_is_clean_with_pools(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "workPools": [{"name": "a", "concurrencyLimit": 3}, {"name": "b", "paused": True}],
                "worker": {"pools": ["a"], "heartbeatSeconds": 5, "timeoutSeconds": 15},
            }
        )
    )
    out = helm("lint", "--strict", str(CHART), "-f", str(path))
    assert "[WARNING]" not in out and "[ERROR]" not in out, out
