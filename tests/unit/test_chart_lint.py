"""`helm lint` passes with the default values and with the main alternatives, strictly."""

from __future__ import annotations

import pytest

from tests.support.chart import CHART, helm, set_flags


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"watchNamespaces": "{team-a,team-b}", "replicaCount": 2},
        {"launchers.docker.enabled": True, "launchers.kubernetesJob.enabled": False},
        {"launchers.process.enabled": True, "launchers.kubernetesJob.enabled": False},
        {
            "launchers.process.enabled": True,
            "launchers.docker.enabled": True,
            "defaults.image": "registry.example/flows:1",
            "defaults.gracePeriodSeconds": 0,
        },
    ],
    ids=["defaults", "namespaced-ha", "docker-only", "process-only", "all-launchers-defaults"],
)
def test_helm_lint_is_clean(values: dict[str, str | int | bool]) -> None:
    out = helm("lint", "--strict", str(CHART), *set_flags(values))
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out
