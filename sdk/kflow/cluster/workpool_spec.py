"""The WorkPool that `kflow work-pool create` sends: its flags over an optional YAML file,
checked by the same model the CRD mirrors, so a mistake is one sentence naming the field
before anything reaches the API server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kflow.resources import API_VERSION, WORKPOOL_KIND, InfrastructureType, WorkPoolSpec
from kflow.resources.workpool import POOL_NAME_PATTERN

POOL_TYPES = tuple(t.value for t in InfrastructureType)


class PoolSpecError(ValueError):
    """The pool cannot be built; the message names the flag or field and what is allowed."""


def pool_manifest(
    name: str,
    *,
    pool_type: str | None,
    limit: int | None = None,
    image: str | None = None,
    paused: bool = False,
    description: str | None = None,
    file: Path | None = None,
) -> dict[str, Any]:
    if len(name) > 63 or not re.match(POOL_NAME_PATTERN, name):
        raise PoolSpecError(
            f"{name!r} is not a pool name: lowercase letters, digits and '-', starting and "
            "ending with a letter or digit, at most 63 (e.g. 'k8s-default')"
        )
    spec = _file_spec(file) if file is not None else {}
    if pool_type is not None:
        spec["type"] = pool_type
    if "type" not in spec:
        raise PoolSpecError(f"--type is required: one of {', '.join(POOL_TYPES)}")
    if spec["type"] not in POOL_TYPES:
        raise PoolSpecError(
            f"type {spec['type']!r} is not a pool type; use one of {', '.join(POOL_TYPES)}"
        )
    if limit is not None:
        spec["concurrencyLimit"] = limit
    if paused:
        spec["paused"] = True
    if description is not None:
        spec["description"] = description
    if image is not None:
        spec["infrastructure"] = {**(spec.get("infrastructure") or {}), "image": image}
    check_pool_spec(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": WORKPOOL_KIND,
        "metadata": {"name": name},
        "spec": spec,
    }


def check_pool_spec(spec: dict[str, Any]) -> None:
    try:
        WorkPoolSpec.model_validate(spec)
    except ValidationError as error:
        raise PoolSpecError("; ".join(problem_lines(error))) from None


def problem_lines(error: ValidationError) -> list[str]:
    """`spec.concurrencyLimit: Input should be greater than or equal to 0 (got -1)` …"""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "spec"
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        elif not isinstance(problem.get("input"), dict | list):
            message += f" (got {problem.get('input')!r})"
        lines.append(f"spec.{where}: {message}")
    return lines


def _file_spec(file: Path) -> dict[str, Any]:
    """A WorkPool manifest, or just its spec, from a YAML file."""
    try:
        document = yaml.safe_load(file.read_text())
    except OSError as error:
        raise PoolSpecError(f"-f {file}: cannot read it ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise PoolSpecError(f"-f {file}: not valid YAML: {error}") from None
    if isinstance(document, dict) and document.get("kind") == WORKPOOL_KIND:
        document = document.get("spec")
    if not isinstance(document, dict):
        raise PoolSpecError(
            f"-f {file}: expected a WorkPool manifest or the mapping of its spec "
            "(type, infrastructure, concurrencyLimit, paused, description)"
        )
    return dict(document)
