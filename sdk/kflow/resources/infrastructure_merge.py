"""The rule that decides a run's infrastructure: FlowRun > Deployment > WorkPool > operator
defaults, field by field (design.md §2).

Each layer is read as its JSON document and merged over the ones below it the way a JSON merge
patch (RFC 7386) merges: objects merge key by key (`env`, `nodeSelector`, `podLabels`,
`resources`, `podTemplatePatch`, ...), anything else — strings, numbers, lists such as `command`,
`tolerations` or `volumes` — is replaced whole by the higher layer. One exception, `resultStorage`,
is replaced whole too: it names one storage, and a bucket from one layer merged with a volume
from another would name none. One rule, so that a user can predict the outcome of any
combination, and `kflow flow-run inspect` can show it.

The type is the pool's when the run has a pool; a Deployment or FlowRun in a pool that names a
different type is a mistake reported in words, never silently resolved. Without a pool a FlowRun
may change its Deployment's type; the Deployment's options of the old type then do not apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from kflow.resources.infrastructure import (
    EffectiveInfrastructure,
    InfrastructureSettings,
    InfrastructureType,
)
from kflow.resources.result_storage import ResultStorage

CONTAINER_TYPES = frozenset({InfrastructureType.DOCKER, InfrastructureType.KUBERNETES_JOB})
"""Infrastructure that runs an image; `process` runs the operator host's own Python."""

TYPE_OPTIONS = ("job", "docker", "process")
"""The blocks of settings that belong to one type only."""

WHOLE_FIELDS = frozenset({"resultStorage"})
"""Objects a higher layer replaces whole instead of merging into."""


@dataclass(frozen=True)
class Layer:
    """One source of settings, named as a user would name it in a message."""

    source: str
    """e.g. `FlowRun etl-x`, `Deployment etl`, `WorkPool k8s`, `operator defaults`."""
    settings: InfrastructureSettings | None
    type: InfrastructureType | None = None


@dataclass(frozen=True)
class MergedInfrastructure:
    infrastructure: EffectiveInfrastructure
    sources: Mapping[str, str] = field(default_factory=dict)
    """Top-level field (camelCase) → the highest layer that set it."""


class InfrastructureConflict(ValueError):
    """The layers cannot be merged; the message says which fields and what to change."""


def merge_documents(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`patch` over `base` with JSON-merge-patch rules (objects merge, the rest is replaced)."""
    merged = dict(base)
    for key, value in patch.items():
        below = merged.get(key)
        if key in WHOLE_FIELDS and isinstance(value, Mapping):
            merged[key] = merge_documents({}, value)
        elif isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = merge_documents(below, value)
        elif isinstance(value, Mapping):
            merged[key] = merge_documents({}, value)
        else:
            merged[key] = value
    return merged


def merge_infrastructure(
    layers: list[Layer], *, pool: Layer | None = None, default_image: str | None = None
) -> MergedInfrastructure:
    """Merge `layers` (highest first: FlowRun, then Deployment) over `pool` and the defaults.

    Raises InfrastructureConflict when no type is named anywhere, when a layer's type differs
    from its pool's, or when options of one type end up on another."""
    type_, type_source = _decide_type(layers, pool)
    ordered = [layer for layer in reversed(layers) if layer.settings is not None]
    if pool is not None and pool.settings is not None:
        ordered.insert(0, pool)
    document: dict[str, Any] = {}
    sources: dict[str, str] = {"type": type_source}
    if default_image is not None and type_ in CONTAINER_TYPES:
        document["image"] = default_image
        sources["image"] = "operator defaults (--default-image)"
    for layer in ordered:
        assert layer.settings is not None
        own = layer.settings.model_dump(by_alias=True, exclude_none=True, mode="json")
        own.pop("type", None)
        if layer.type is not None and layer.type is not type_:
            # A FlowRun that changes its Deployment's type leaves that type's options behind.
            for key in TYPE_OPTIONS:
                own.pop(key, None)
        document = merge_documents(document, own)
        sources.update({key: layer.source for key in own})
    for key in TYPE_OPTIONS:
        if key in document and key != _options_key(type_):
            raise InfrastructureConflict(
                f"{sources[key]} sets infrastructure.{key} options, which apply to type "
                f"{_type_of_options(key).value} only, but the run's type is {type_.value} "
                f"(from {type_source}); remove infrastructure.{key} from {sources[key]}"
            )
    storage = document.get("resultStorage")
    if storage is not None and (problem := ResultStorage.model_validate(storage).mismatch(type_)):
        raise InfrastructureConflict(
            f"{sources['resultStorage']} sets infrastructure.resultStorage, but {problem} and "
            f"the run's type is {type_.value} (from {type_source}); change "
            f"infrastructure.resultStorage in {sources['resultStorage']}"
        )
    try:
        effective = EffectiveInfrastructure.model_validate({**document, "type": type_})
    except ValidationError as error:  # pragma: no cover - every layer was valid on its own
        raise InfrastructureConflict(f"the merged infrastructure is invalid: {error}") from error
    return MergedInfrastructure(effective, sources)


def _decide_type(layers: list[Layer], pool: Layer | None) -> tuple[InfrastructureType, str]:
    named = [layer for layer in layers if layer.type is not None]
    if pool is not None:
        assert pool.type is not None, "a pool always has a type"
        for layer in named:
            if layer.type is not pool.type:
                assert layer.type is not None
                raise InfrastructureConflict(
                    f"{layer.source} says infrastructure.type {layer.type.value}, but its "
                    f"{pool.source} runs {pool.type.value}; remove infrastructure.type from "
                    f"{layer.source} (a pool decides the type) or choose a pool of type "
                    f"{layer.type.value}"
                )
        return pool.type, pool.source
    if named:
        first = named[0]
        assert first.type is not None
        return first.type, first.source
    raise InfrastructureConflict(
        "nothing says where the run executes: set infrastructure.type "
        "(kubernetes-job, docker or process) or workPool.name in the Deployment or FlowRun"
    )


def _options_key(type_: InfrastructureType) -> str:
    return {
        InfrastructureType.KUBERNETES_JOB: "job",
        InfrastructureType.DOCKER: "docker",
        InfrastructureType.PROCESS: "process",
    }[type_]


def _type_of_options(key: str) -> InfrastructureType:
    return {
        "job": InfrastructureType.KUBERNETES_JOB,
        "docker": InfrastructureType.DOCKER,
        "process": InfrastructureType.PROCESS,
    }[key]
