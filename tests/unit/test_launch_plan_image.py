"""Which image a container run gets: its own, else the operator's --default-image, else none
(the run fails, saying which field or flag to set)."""

from __future__ import annotations

from typing import Any

import pytest
from kflow.resources import DeploymentSpec
from kflow_operator.decisions.actions import MarkFailed
from kflow_operator.decisions.launch_plan import plan_launch
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.infrastructure import LaunchRequest


def deployment(**infrastructure: Any) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {"entrypoint": "flows.py:main", "infrastructure": infrastructure}
    )


def run(spec: dict[str, Any] | None = None) -> SupervisedRun:
    return SupervisedRun.from_body(
        {
            "metadata": {"namespace": "ns", "name": "r", "uid": "u-1", "resourceVersion": "1"},
            "spec": spec or {"deploymentRef": {"name": "d"}},
            "status": {},
        }
    )


def image_of(plan: LaunchRequest | MarkFailed) -> str | None:
    assert isinstance(plan, LaunchRequest), plan
    return plan.infrastructure.image


@pytest.mark.parametrize("kind", ["docker", "kubernetes-job"])
def test_the_deployments_own_image_wins_over_the_default(kind: str) -> None:
    plan = plan_launch(run(), deployment(type=kind, image="own:1"), default_image="default:1")
    assert image_of(plan) == "own:1"


@pytest.mark.parametrize("kind", ["docker", "kubernetes-job"])
def test_a_container_run_without_an_image_gets_the_default(kind: str) -> None:
    spec = deployment(type=kind, env={"A": "1"})
    plan = plan_launch(run(), spec, default_image="registry.example/flows:2")
    assert image_of(plan) == "registry.example/flows:2"
    assert isinstance(plan, LaunchRequest) and plan.env["A"] == "1"
    assert spec.infrastructure is not None and spec.infrastructure.image is None, (
        "the Deployment's spec is left as it was"
    )


def test_an_ad_hoc_run_without_an_image_gets_the_default_too() -> None:
    ad_hoc = run({"entrypoint": "flows.py:main", "infrastructure": {"type": "docker"}})
    assert image_of(plan_launch(ad_hoc, None, default_image="d:1")) == "d:1"


@pytest.mark.parametrize("kind", ["docker", "kubernetes-job"])
def test_with_no_image_anywhere_the_run_fails_naming_the_field_and_the_flag(kind: str) -> None:
    failed = plan_launch(run(), deployment(type=kind))
    assert isinstance(failed, MarkFailed)
    assert failed.reason == "NoImage"
    assert kind in failed.message
    for remedy in ("spec.infrastructure.image", "--default-image", "defaults.image"):
        assert remedy in failed.message


def test_a_process_run_needs_no_image_and_gets_none() -> None:
    assert image_of(plan_launch(run(), deployment(type="process"))) is None
    assert image_of(plan_launch(run(), deployment(type="process"), default_image="d:1")) is None
