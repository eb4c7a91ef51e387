"""Hypothesis strategies for kflow specs, generated from the CRDs themselves (crds/*.yaml).

The CRD's OpenAPI schema is reduced to plain JSON Schema that hypothesis-jsonschema reads:
strict objects stay strict, `x-kubernetes-preserve-unknown-fields` objects become small free
objects, and Kubernetes-only keywords are dropped. CEL rules are not translated: specs that
break one are what the API server refuses, which the fuzz test checks too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

CRDS = Path(__file__).resolve().parents[2] / "crds"
Schema = dict[str, Any]

KEPT = (
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
    "required",
)
SIZE_CAP = {"maxLength": 64, "maxItems": 4, "maxProperties": 4}
"""Keeps generated documents small: the limits themselves are the API server's to enforce."""


def crd_spec_schema(file: str) -> Schema:
    crd = yaml.safe_load((CRDS / file).read_text())
    (version,) = crd["spec"]["versions"]
    spec: Schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return json_schema(spec)


def json_schema(node: Schema) -> Schema:
    if node.get("x-kubernetes-preserve-unknown-fields") and "properties" not in node:
        return {
            "type": "object",
            "maxProperties": 3,
            "additionalProperties": {"type": ["string", "integer", "boolean"], "maxLength": 16},
        }
    out: Schema = {key: node[key] for key in KEPT if key in node}
    for key, cap in SIZE_CAP.items():
        if key in out:
            out[key] = min(out[key], cap)
    if out.get("type") == "string" and "maxLength" not in out and "enum" not in out:
        out["maxLength"] = SIZE_CAP["maxLength"]
    if out.get("type") == "array" and "maxItems" not in out:
        out["maxItems"] = SIZE_CAP["maxItems"]
    if node.get("format") == "date-time":
        out["format"] = "date-time"
    if "properties" in node:
        out["properties"] = {k: json_schema(v) for k, v in node["properties"].items()}
        out["additionalProperties"] = False
    elif isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = json_schema(node["additionalProperties"])
        out.setdefault("maxProperties", SIZE_CAP["maxProperties"])
    if "items" in node:
        out["items"] = json_schema(node["items"])
    return out


def draw_specs(
    file: str, count: int, seed_strategy: st.SearchStrategy[Any] | None = None
) -> list[Any]:
    """`count` specs of the CRD in `file`, the same ones on every run (derandomized), so a CI
    failure can be reproduced."""
    drawn: list[Any] = []
    strategy = from_schema(crd_spec_schema(file))
    if seed_strategy is not None:
        strategy = st.tuples(strategy, seed_strategy)

    @settings(
        max_examples=count,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    collect()
    return drawn[:count]
