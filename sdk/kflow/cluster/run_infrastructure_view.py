"""`kflow flow-run inspect` (cluster): the run's work pool and the infrastructure it gets, each
top-level field with the layer it came from, by the same rule and the same layers the operator
launches with (kflow.resources.run_infrastructure)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from kflow.cluster.presentation import table
from kflow.resources import (
    DeploymentSpec,
    FlowRunSpec,
    InfrastructureConflict,
    InfrastructureType,
    Layer,
    ResultStorage,
    WorkPoolSpec,
)
from kflow.resources.infrastructure_merge import CONTAINER_TYPES, TYPE_OPTIONS, WHOLE_FIELDS
from kflow.resources.pools import run_pool
from kflow.resources.run_infrastructure import (
    OPERATOR_DEFAULTS,
    pool_layer,
    run_infrastructure,
    run_layers,
)

RULE = "FlowRun > Deployment > WorkPool > operator defaults, field by field"


@dataclass(frozen=True)
class EffectiveView:
    pool: str | None
    pool_from: str | None
    """`FlowRun` or `Deployment NAME`: where the run's pool is named."""
    infrastructure: Mapping[str, Any] | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None
    """Why no infrastructure can be shown (a conflict, a missing pool or Deployment)."""
    readable: bool = True
    """False when the run's Deployment or pool could not be read (RBAC), so its pool is unknown."""

    def document(self) -> dict[str, Any]:
        """The `effectiveInfrastructure` key of `-o json|yaml`."""
        return {
            "rule": RULE,
            "workPool": self.pool,
            "workPoolFrom": self.pool_from,
            "infrastructure": dict(self.infrastructure) if self.infrastructure else None,
            "sources": dict(self.sources),
            "problem": self.problem,
        }


def effective_view(
    run: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    pool: Mapping[str, Any] | None,
) -> EffectiveView:
    """`deployment` and `pool` are the objects the run names (None: it names none, or they were
    not found)."""
    meta = run.get("metadata") or {}
    name, namespace = str(meta.get("name")), str(meta.get("namespace"))
    run_body = run.get("spec") or {}
    deployment_body = (deployment or {}).get("spec")
    pool_name = run_pool(run_body, deployment_body)
    pool_from = _pool_from(run_body, deployment)
    view = EffectiveView(pool_name, pool_from)
    deployment_name = (run_body.get("deploymentRef") or {}).get("name")
    if deployment_name and deployment is None:
        return _with_problem(
            view,
            f"Deployment {deployment_name} not found in namespace {namespace}; the run cannot "
            "start (DeploymentNotFound)",
        )
    if pool_name and pool is None:
        return _with_problem(
            view,
            f"WorkPool {pool_name} does not exist in namespace {namespace}; the run waits "
            f"(AwaitingWorkPool) until it is created: kflow work-pool create {pool_name} "
            f"--type kubernetes-job|docker|process -n {namespace}",
        )
    try:
        run_spec = FlowRunSpec.model_validate(run_body)
        deployment_spec = DeploymentSpec.model_validate(deployment_body) if deployment else None
        pool_spec = WorkPoolSpec.model_validate(pool.get("spec") or {}) if pool else None
    except ValidationError as error:
        return _with_problem(view, f"cannot read the specs this kflow knows: {error}")
    pool_entry = (pool_name, pool_spec) if pool_name and pool_spec else None
    try:
        merged = run_infrastructure(name, run_spec, deployment_spec, pool_entry)
    except InfrastructureConflict as conflict:
        return _with_problem(view, str(conflict))
    document = merged.infrastructure.model_dump(by_alias=True, exclude_none=True, mode="json")
    layers = run_layers(name, run_spec, deployment_spec)
    if pool_entry is not None:
        layers.append(pool_layer(*pool_entry))
    sources = {
        key: _merged_from(key, document[key], source, layers, merged.infrastructure.type)
        for key, source in merged.sources.items()
        if key in document
    }
    return EffectiveView(pool_name, pool_from, document, sources)


def _merged_from(
    key: str, value: Any, source: str, layers: list[Layer], type_: InfrastructureType
) -> str:
    """`FlowRun x over Deployment y` when an object (env, job, …) merges several layers' keys;
    just the highest layer's name otherwise."""
    if key == "type" or key in WHOLE_FIELDS or not isinstance(value, Mapping):
        return source
    setting = [
        layer.source
        for layer in layers
        if layer.settings is not None
        and getattr(layer.settings, _attribute(key), None) is not None
        and not (key in TYPE_OPTIONS and layer.type is not None and layer.type is not type_)
    ]
    return " over ".join(setting) if len(setting) > 1 else source


def _attribute(key: str) -> str:
    """The model attribute of a camelCase field: imagePullPolicy → image_pull_policy."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def unreadable_view(reason: str) -> EffectiveView:
    return EffectiveView(
        None,
        None,
        problem=f"cannot read the run's Deployment or WorkPool: {reason}",
        readable=False,
    )


def effective_section(view: EffectiveView) -> str:
    """The lines `kflow flow-run inspect` prints about the run's pool and infrastructure."""
    pool = f"{view.pool} (named by {view.pool_from})" if view.pool else "- (none)"
    if not view.readable:
        pool = "unknown"
    lines = [f"Work pool       {pool}", f"\nEffective infrastructure ({RULE})"]
    if view.problem or view.infrastructure is None:
        lines.append(f"  cannot be decided: {view.problem}")
        return "\n".join(lines)
    fields = sorted(view.infrastructure.items(), key=lambda item: item[0] != "type")
    rows = [[key, view.sources.get(key, ""), _value(key, value)] for key, value in fields]
    if view.infrastructure.get("type") in CONTAINER_TYPES and "image" not in view.infrastructure:
        unset = "(none set: the operator's --default-image, else NoImage)"
        rows.insert(1, ["image", OPERATOR_DEFAULTS, unset])
    lines.extend(f"  {line}" for line in table(["FIELD", "FROM", "VALUE"], rows).splitlines())
    return "\n".join(lines)


def _pool_from(run_body: Mapping[str, Any], deployment: Mapping[str, Any] | None) -> str | None:
    if (run_body.get("workPool") or {}).get("name"):
        return "FlowRun"
    if deployment and ((deployment.get("spec") or {}).get("workPool") or {}).get("name"):
        return f"Deployment {deployment['metadata']['name']}"
    return None


def _with_problem(view: EffectiveView, problem: str) -> EffectiveView:
    return EffectiveView(view.pool, view.pool_from, problem=problem)


def _value(key: str, value: Any) -> str:
    if key == "resultStorage":
        return ResultStorage.model_validate(value).describe()
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
