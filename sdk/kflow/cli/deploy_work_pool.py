"""`work_pool:` of a deployment in kflow.yaml, as the original README writes it:

    work_pool:
      name: k8s
      job_variables: {image: "python:3.12", env: {STAGE: prod}, node_selector: {disk: ssd}}

It becomes `spec.workPool.name` (also accepted as the spec field `workPool`), and Prefect's
per-deployment `job_variables` become the Deployment's own `infrastructure`, the layer that the
merge rule puts over the pool's (kflow.resources.infrastructure_merge). Each job variable maps
onto one kflow field; a variable kflow has no field for is refused, naming the fields it has,
rather than dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic.alias_generators import to_camel

from kflow.cli.deploy_checks import Problems, check_keys, check_model, join
from kflow.resources import InfrastructureSpec
from kflow.resources.infrastructure import DockerOptions, JobOptions, ProcessOptions
from kflow.resources.infrastructure_merge import merge_documents

WHERE = "work_pool"
POOL_KEYS = ("name", "job_variables", "jobVariables")
TOP_LEVEL = (
    "image",
    "imagePullPolicy",
    "env",
    "command",
    "resultStorage",
    "job",
    "docker",
    "process",
)
PREFECT_NAMES: dict[str, tuple[str, ...]] = {
    "finishedJobTtl": ("job", "ttlSecondsAfterFinished"),
    "workingDir": ("process", "workingDirectory"),
    "cpuRequest": ("job", "resources", "requests", "cpu"),
    "memoryRequest": ("job", "resources", "requests", "memory"),
    "cpuLimit": ("job", "resources", "limits", "cpu"),
    "memoryLimit": ("job", "resources", "limits", "memory"),
}
"""Prefect job variables whose kflow field has another name (or lies deeper)."""
NOT_HERE = {
    "namespace": "runs execute in their Deployment's namespace: set the deployment's "
    "`namespace` (or --namespace) instead",
}


def _options() -> dict[str, tuple[str, ...]]:
    """Type-specific option fields a job variable may name directly: `node_selector` → job."""
    found: dict[str, tuple[str, ...]] = {}
    for block, model in (
        ("job", JobOptions),
        ("docker", DockerOptions),
        ("process", ProcessOptions),
    ):
        for name, info in model.model_fields.items():
            key = info.alias or to_camel(name)
            found[key] = (block, key)
    return {**found, **PREFECT_NAMES}


def work_pool_key(raw: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    """The FILE_KEYS checker of `work_pool`: the spec fields it becomes."""
    if WHERE not in raw:
        return {}
    if "workPool" in raw:
        problems.add(WHERE, "give `work_pool` or `workPool`, not both")
        return {}
    value = raw[WHERE]
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        problems.add(WHERE, "expected a mapping with the pool's `name`, e.g. {name: k8s}")
        return {}
    check_keys(value, POOL_KEYS, WHERE, problems)
    fragments: dict[str, Any] = {"workPool": {"name": value["name"]}}
    variables = value.get("job_variables", value.get("jobVariables"))
    if variables is None:
        return fragments
    where = join(WHERE, "job_variables")
    if not isinstance(variables, dict):
        problems.add(where, "expected a mapping of job variables, e.g. {image: python:3.12}")
        return fragments
    overrides = job_variables_infrastructure(variables, where, problems)
    own = raw.get("infrastructure") or {}
    if not isinstance(own, dict):
        problems.add("infrastructure", "expected a mapping of infrastructure settings")
        return fragments
    before = len(problems.lines)
    check_model(InfrastructureSpec, overrides, where, problems)
    check_model(InfrastructureSpec, own, "infrastructure", problems)
    for path in sorted(_leaves(own) & _leaves(overrides)):
        problems.add(where, f"sets infrastructure.{path}, which `infrastructure` sets too")
    merged = merge_documents(own, overrides)
    if len(problems.lines) == before:
        check_model(InfrastructureSpec, merged, where, problems)
    fragments["infrastructure"] = merged
    return fragments


def job_variables_infrastructure(
    variables: Mapping[str, Any], where: str, problems: Problems
) -> dict[str, Any]:
    """Prefect's job variables (snake_case or camelCase) as a kflow `infrastructure`."""
    options = _options()
    result: dict[str, Any] = {}
    for name, value in variables.items():
        key = to_camel(str(name))
        if key in TOP_LEVEL:
            result = merge_documents(result, {key: value})
        elif key in options:
            nested: Any = value
            for part in reversed(options[key]):
                nested = {part: nested}
            result = merge_documents(result, nested)
        elif key in NOT_HERE:
            problems.add(join(where, str(name)), NOT_HERE[key])
        else:
            known = sorted({*TOP_LEVEL, *options} - {"job", "docker", "process"})
            problems.add(
                join(where, str(name)),
                "kflow has no such setting; job variables map onto the infrastructure fields "
                f"{', '.join(known)} (snake_case or camelCase); see docs/work-pools.md",
            )
    return result


def _leaves(document: Mapping[str, Any], prefix: str = "", depth: int = 2) -> set[str]:
    """Dotted paths of the values set, down to the type options' own fields."""
    found = set()
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and depth > 1 and key in ("job", "docker", "process", "env"):
            found |= _leaves(value, f"{path}.", depth - 1)
        else:
            found.add(path)
    return found
