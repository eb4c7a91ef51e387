"""FlowRun > Deployment > WorkPool > operator defaults, field by field (design.md §2)."""

from __future__ import annotations

from typing import Any

import pytest
from kflow.resources import (
    InfrastructureConflict,
    InfrastructureSettings,
    InfrastructureSpec,
    InfrastructureType,
    Layer,
    WorkPoolSpec,
    merge_infrastructure,
)
from pydantic import ValidationError


def layer(source: str, **fields: Any) -> Layer:
    spec = InfrastructureSpec.model_validate(fields)
    return Layer(source, spec, spec.type)


def pool(**spec: Any) -> Layer:
    model = WorkPoolSpec.model_validate(spec)
    return Layer("WorkPool k8s", model.infrastructure, model.type)


POOL = {
    "type": "kubernetes-job",
    "infrastructure": {
        "image": "pool:1",
        "env": {"A": "pool", "B": "pool"},
        "command": ["pool"],
        "job": {
            "nodeSelector": {"disk": "ssd", "zone": "a"},
            "tolerations": [{"key": "gpu", "operator": "Exists"}],
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
        },
    },
}


def test_maps_merge_key_by_key_and_the_rest_is_replaced_by_the_higher_layer() -> None:
    deployment = layer(
        "Deployment etl",
        env={"B": "deployment", "C": "deployment"},
        job={
            "nodeSelector": {"zone": "b"},
            "tolerations": [],
            "resources": {"limits": {"cpu": "2"}},
        },
    )
    run = layer("FlowRun etl-1", env={"C": "run"}, command=["run"])
    merged = merge_infrastructure([run, deployment], pool=pool(**POOL))
    infra = merged.infrastructure
    assert infra.type is InfrastructureType.KUBERNETES_JOB
    assert infra.image == "pool:1"
    assert infra.env == {"A": "pool", "B": "deployment", "C": "run"}
    assert infra.command == ["run"]
    assert infra.job is not None
    assert infra.job.node_selector == {"disk": "ssd", "zone": "b"}
    assert infra.job.tolerations == []
    assert infra.job.resources == {"limits": {"cpu": "2", "memory": "1Gi"}}
    assert merged.sources["type"] == "WorkPool k8s"
    assert merged.sources["image"] == "WorkPool k8s"
    assert merged.sources["command"] == "FlowRun etl-1"
    assert merged.sources["env"] == "FlowRun etl-1"


def test_the_default_image_is_the_lowest_layer_and_only_for_container_types() -> None:
    assert (
        merge_infrastructure([layer("D", type="docker")], default_image="d:1").infrastructure.image
        == "d:1"
    )
    merged = merge_infrastructure([layer("D", type="docker", image="own:2")], default_image="d:1")
    assert merged.infrastructure.image == "own:2"
    process = merge_infrastructure([layer("D", type="process")], default_image="d:1")
    assert process.infrastructure.image is None


def test_a_type_that_contradicts_the_pool_is_refused_in_words() -> None:
    with pytest.raises(InfrastructureConflict) as caught:
        merge_infrastructure([layer("Deployment etl", type="docker")], pool=pool(**POOL))
    message = str(caught.value)
    assert "Deployment etl says infrastructure.type docker" in message
    assert "WorkPool k8s runs kubernetes-job" in message


def test_options_of_another_type_than_the_pools_are_refused_naming_the_layer() -> None:
    with pytest.raises(InfrastructureConflict) as caught:
        merge_infrastructure(
            [layer("Deployment etl", docker={"network": "host"})], pool=pool(**POOL)
        )
    assert "Deployment etl sets infrastructure.docker options" in str(caught.value)


def test_a_flowrun_that_changes_the_type_leaves_the_old_types_options_behind() -> None:
    deployment = layer(
        "Deployment etl", type="kubernetes-job", image="i:1", job={"nodeSelector": {"a": "b"}}
    )
    run = layer("FlowRun x", type="docker")
    infra = merge_infrastructure([run, deployment]).infrastructure
    assert infra.type is InfrastructureType.DOCKER
    assert infra.image == "i:1" and infra.job is None


def test_nothing_says_where_to_run() -> None:
    with pytest.raises(InfrastructureConflict, match=r"workPool\.name"):
        merge_infrastructure([Layer("Deployment etl", None)])


def test_a_pool_refuses_options_of_another_type() -> None:
    with pytest.raises(ValidationError, match="`job` options apply to type kubernetes-job only"):
        WorkPoolSpec.model_validate({"type": "docker", "infrastructure": {"job": {}}})
    assert InfrastructureSettings.model_validate({"image": "x"}).image == "x"
