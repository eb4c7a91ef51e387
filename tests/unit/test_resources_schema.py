"""The pydantic models in kflow.resources must say exactly what the CRDs in crds/ say.

Both sides are reduced to the same small vocabulary (type, format, enum, bounds, pattern,
required, default, properties, items) and compared node by node; a difference names its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kflow.resources import (
    DeploymentSpec,
    DeploymentStatus,
    FlowRunSpec,
    FlowRunStatus,
    WorkPoolSpec,
    WorkPoolStatus,
)
from pydantic import BaseModel

CRDS = Path(__file__).resolve().parents[2] / "crds"

COMPARED_KEYWORDS = (
    "type",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "maxProperties",
    "default",
)

Schema = dict[str, Any]


def crd_schema(file: str) -> Schema:
    crd = yaml.safe_load((CRDS / file).read_text())
    (version,) = crd["spec"]["versions"]
    root: Schema = version["schema"]["openAPIV3Schema"]
    return root


def normalise_crd(node: Schema) -> Schema:
    if node.get("x-kubernetes-preserve-unknown-fields") and "type" not in node:
        return {}
    out: Schema = {k: node[k] for k in COMPARED_KEYWORDS if k in node}
    if node.get("format") == "date-time":
        out["format"] = "date-time"
    if node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = True
    if "properties" in node:
        out["properties"] = {k: normalise_crd(v) for k, v in node["properties"].items()}
        out["required"] = sorted(node.get("required", []))
    if "items" in node:
        out["items"] = normalise_crd(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = normalise_crd(node["additionalProperties"])
    return out


def normalise_model(node: Schema, defs: Schema) -> Schema:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        return normalise_model({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    if "anyOf" in node:
        # `X | None` means "may be absent": the CRD says that by leaving it out of `required`.
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        assert len(options) == 1, f"unsupported union {node}"
        merged = {**node, **options[0]}
        del merged["anyOf"]
        return normalise_model(merged, defs)
    out: Schema = {k: node[k] for k in COMPARED_KEYWORDS if k in node}
    if out.get("default", 0) is None:
        del out["default"]
    if node.get("format") == "date-time":
        out["format"] = "date-time"
    if "properties" in node:
        out["properties"] = {k: normalise_model(v, defs) for k, v in node["properties"].items()}
        out["required"] = sorted(node.get("required", []))
    if "items" in node:
        out["items"] = normalise_model(node["items"], defs)
    additional = node.get("additionalProperties")
    if additional is True or (
        node.get("type") == "object" and "properties" not in node and additional is None
    ):
        out["additionalProperties"] = True
    elif isinstance(additional, dict):
        out["additionalProperties"] = normalise_model(additional, defs)
    if out.get("type") == "object" and "properties" in out:
        out.pop("additionalProperties", None)
    return out


def model_schema(model: type[BaseModel]) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return normalise_model(raw, raw.get("$defs", {}))


def differences(crd: Any, model: Any, path: str) -> list[str]:
    if isinstance(crd, dict) and isinstance(model, dict):
        found = []
        for key in sorted(set(crd) | set(model)):
            where = f"{path}.{key}" if path else key
            if key not in crd:
                found.append(f"{where}: in the model only ({model[key]!r})")
            elif key not in model:
                found.append(f"{where}: in the CRD only ({crd[key]!r})")
            else:
                found.extend(differences(crd[key], model[key], where))
        return found
    if crd != model:
        return [f"{path}: CRD {crd!r} != model {model!r}"]
    return []


CASES = [
    ("deployments.kflow.dev.yaml", "spec", DeploymentSpec),
    ("deployments.kflow.dev.yaml", "status", DeploymentStatus),
    ("flowruns.kflow.dev.yaml", "spec", FlowRunSpec),
    ("flowruns.kflow.dev.yaml", "status", FlowRunStatus),
    ("workpools.kflow.dev.yaml", "spec", WorkPoolSpec),
    ("workpools.kflow.dev.yaml", "status", WorkPoolStatus),
]


@pytest.mark.parametrize(("file", "part", "model"), CASES, ids=lambda c: getattr(c, "__name__", c))
def test_model_matches_crd(file: str, part: str, model: type[BaseModel]) -> None:
    crd = normalise_crd(crd_schema(file)["properties"][part])
    found = differences(crd, model_schema(model), part)
    assert not found, "models and CRD schemas drifted apart:\n" + "\n".join(found)


def test_the_comparison_notices_a_drift() -> None:
    crd = normalise_crd(crd_schema("flowruns.kflow.dev.yaml")["properties"]["spec"])
    crd["properties"]["cancelGracePeriodSeconds"]["maximum"] = 7
    del crd["properties"]["paused"]
    found = differences(crd, model_schema(FlowRunSpec), "spec")
    assert "spec.properties.cancelGracePeriodSeconds.maximum: CRD 7 != model 86400" in found
    assert any(line.startswith("spec.properties.paused: in the model only") for line in found)


@pytest.mark.parametrize(
    "file", ["deployments.kflow.dev.yaml", "flowruns.kflow.dev.yaml", "workpools.kflow.dev.yaml"]
)
def test_crd_names(file: str) -> None:
    crd = yaml.safe_load((CRDS / file).read_text())
    assert crd["spec"]["group"] == "kflow.dev"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["categories"] == ["kflow"]
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
