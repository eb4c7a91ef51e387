"""The chart's `workPools:` against a real API server: what `helm template` renders is accepted
by the WorkPool CRD as it stands (types, limits, first-class Job pod settings) and is what
`kflow work-pool ls` then lists. (The e2e journey installs the chart for real; this tier does
not build the operator image, so only the pools are applied here.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import Cluster
from tests.integration.test_work_pool_cli import get_pool, kflow, ok
from tests.support.chart import render

pytestmark = pytest.mark.integration


def test_the_charts_pools_are_accepted_and_listed(
    cluster: Cluster, kubeconfig: Path, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "watchNamespaces": [cluster.namespace],
                "launchers": {"process": {"enabled": True}},
                "workPools": [
                    {"name": "default"},
                    {
                        "name": "gpu",
                        "type": "kubernetes-job",
                        "concurrencyLimit": 0,
                        "paused": True,
                        "infrastructure": {
                            "image": "flows:1",
                            "job": {
                                "nodeSelector": {"gpu": "a100"},
                                "tolerations": [{"key": "gpu", "effect": "NoSchedule"}],
                                "resources": {"limits": {"nvidia.com/gpu": 1}},
                            },
                        },
                    },
                    {"name": "local", "type": "process"},
                ],
            }
        )
    )
    chart = render({}, "-f", str(values))
    pools = chart.of_kind("WorkPool")
    assert {p["metadata"]["namespace"] for p in pools} == {cluster.namespace}
    cluster.apply("---\n".join(yaml.safe_dump(p) for p in pools))

    assert get_pool(cluster, "gpu")["spec"]["infrastructure"]["job"]["nodeSelector"] == {
        "gpu": "a100"
    }
    rows = [
        line.split()[:4]
        for line in ok(kflow(kubeconfig, "work-pool", "ls", "-n", cluster.namespace)).splitlines()
    ]
    assert rows == [
        ["NAME", "TYPE", "PAUSED", "LIMIT"],
        ["default", "kubernetes-job", "false", "none"],
        ["gpu", "kubernetes-job", "true", "0"],
        ["local", "process", "false", "none"],
    ]
