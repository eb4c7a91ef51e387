"""Parameters of a new run checked against a Deployment's `spec.parameterSchema` (the JSON schema
`kflow deploy` writes from the flow's signature) before the FlowRun exists, so a typo is an error
at the call, not a run that fails later in its pod.

Only what pydantic writes for a flow signature is understood: `properties`, `required`,
`additionalProperties: false`, the JSON types, `enum`, `anyOf`/`oneOf` of those, local `$ref`s
and a lone `allOf`. Anything else in a schema is not checked here (the flow validates its
parameters again when it starts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}
_MAX_REF_DEPTH = 10


def parameter_problems(
    schema: Mapping[str, Any] | None,
    defaults: Mapping[str, Any] | None,
    parameters: Mapping[str, Any],
) -> list[str]:
    """One line per parameter the flow would refuse; `defaults` (the Deployment's parameters)
    count as given."""
    if not isinstance(schema, Mapping):
        return []
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    names = ", ".join(sorted(properties)) or "none"
    problems = [
        f"{key!r}: the flow has no such parameter (its parameters: {names})"
        for key in parameters
        if key not in properties and schema.get("additionalProperties") is False
    ]
    given = {**(defaults or {}), **parameters}
    problems += [
        f"{name!r}: required by the flow, and the Deployment has no default for it"
        for name in schema.get("required") or []
        if name not in given
    ]
    for key, value in parameters.items():
        node = properties.get(key)
        if isinstance(node, Mapping) and not _matches(schema, node, value):
            problems.append(f"{key!r}: expected {_describe(schema, node)}, got {value!r}")
    return problems


def resolve_node(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """`node` with a local `$ref` (`#/$defs/Color`) followed and a lone `allOf` unwrapped, as
    pydantic writes them; the dashboard's parameter form reads schemas the same way."""
    for _ in range(_MAX_REF_DEPTH):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = schema
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        else:
            return node
    return node


def _matches(schema: Mapping[str, Any], node: Mapping[str, Any], value: Any) -> bool:
    node = resolve_node(schema, node)
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list):
        return any(_matches(schema, o, value) for o in options if isinstance(o, Mapping))
    if isinstance(node.get("enum"), list) and value not in node["enum"]:
        return False
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if not kinds:
        return True
    return any(_is_type(value, str(k)) for k in kinds)


def _is_type(value: Any, kind: str) -> bool:
    expected = _JSON_TYPES.get(kind)
    if expected is None:
        return True
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, expected)


def _describe(schema: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    node = resolve_node(schema, node)
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list):
        return " or ".join(_describe(schema, o) for o in options if isinstance(o, Mapping))
    if isinstance(node.get("enum"), list):
        return "one of " + ", ".join(repr(v) for v in node["enum"])
    kind = node.get("type")
    return " or ".join(kind) if isinstance(kind, list) else str(kind or "any value")
