"""A wrong value fails `helm template` (and so `helm install`) with a message naming it."""

from __future__ import annotations

import pytest

from tests.support.chart import HelmError, render


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"logging.format": "xml"}, 'logging.format must be one of the following: "text", "json"'),
        ({"replicaCount": -1}, "replicaCount: Must be greater than or equal to 0"),
        ({"launchers.kubernetesJob.enabld": True}, "Additional property enabld is not allowed"),
        ({"launcher.docker.enabled": True}, "Additional property launcher is not allowed"),
        (
            {"launchers.kubernetesJob.imagePullDeadlineSeconds": "soon"},
            "launchers.kubernetesJob.imagePullDeadlineSeconds: Invalid type. Expected: integer",
        ),
        ({"watchNamespaces": "{Team_A}"}, "watchNamespaces.0: Does not match pattern"),
        ({"launchers.docker.host": "/var/run/docker.sock"}, "launchers.docker.host: Does not"),
        ({"image.pullPolicy": "Sometimes"}, "image.pullPolicy must be one of the following"),
        ({"health.port": 80}, "health.port: Must be greater than or equal to 1024"),
        ({"resources.requests.cpu": "lots"}, "resources.requests.cpu: Does not match pattern"),
        (
            {"launchers.process.enabled": "yes"},
            "launchers.process.enabled: Invalid type. Expected: boolean",
        ),
        (
            {"defaults.startDeadlineSeconds": 0},
            "defaults.startDeadlineSeconds: Must be greater than or equal to 1",
        ),
        (
            {"defaults.gracePeriodSeconds": -1},
            "defaults.gracePeriodSeconds: Must be greater than or equal to 0",
        ),
        (
            {"defaults.gracePeriodSeconds": 86401},
            "defaults.gracePeriodSeconds: Must be less than or equal to 86400",
        ),
        (
            {"defaults.gracePeriodSeconds": "30s"},
            "defaults.gracePeriodSeconds: Invalid type. Expected: integer",
        ),
        ({"defaults.image": "my flows:1"}, "defaults.image: Does not match pattern"),
        ({"defaults.imag": "flows:1"}, "Additional property imag is not allowed"),
    ],
)
def test_schema_refuses_a_bad_value_naming_it(
    values: dict[str, str | int | bool], expected: str
) -> None:
    with pytest.raises(HelmError) as refused:
        render(values)
    assert "values don't meet the specifications of the schema" in str(refused.value)
    assert expected in str(refused.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"launchers.kubernetesJob.enabled": False},
            "no launcher is enabled, so no run could start; set launchers.kubernetesJob.enabled",
        ),
        ({"image.tag": "latest"}, "image.tag must be a pinned version, not latest"),
        ({"watchNamespaces": "{a,a}"}, "watchNamespaces lists a namespace twice"),
        (
            {"serviceAccount.create": False},
            "serviceAccount.create is false, so serviceAccount.name must name",
        ),
    ],
)
def test_combinations_the_schema_cannot_express_are_refused_too(
    values: dict[str, str | int | bool], expected: str
) -> None:
    with pytest.raises(HelmError, match=expected):
        render(values)
