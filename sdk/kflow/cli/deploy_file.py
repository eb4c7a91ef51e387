"""kflow.yaml: the deployments it lists, every problem in them, and the Deployment resources
they describe.

    deployments:
      - name: example-deployment
        entrypoint: examples/example_flow.py:example_workflow
        schedule:                        # or `schedules:` with a list of these
          cron: "0 9 * * *"
          timezone: Asia/Tokyo           # optional, default UTC
        parameters: {name: kflow}
        infrastructure: {type: process}  # default without a pool; or docker / kubernetes-job
        tags: [example]
        work_pool: {name: k8s}           # or workPool: runs where the pool says (no type needed)
        namespace: default               # optional: else --namespace, else the kube context's
    work_pools:                          # optional, applied first (kflow.cli.deploy_pools)
      - name: k8s
        type: kubernetes-job
        infrastructure: {image: "python:3.12"}

kflow.yaml's own keys are `name`, `namespace` and those in `FILE_KEYS` (`schedule` /
`schedules`, `work_pool`); every other key is a Deployment spec field in the CRD's camelCase
(paused, catchup, concurrencyPolicy, …), checked by `DeploymentSpec`. A new kflow.yaml-only
key is one entry in `FILE_KEYS`: its checker reports its problems and returns the spec fields
it becomes.

Every problem is collected, not just the first, and each line names the file, the deployment
and the field (`kflow.yaml: deployment nightly: schedule.cron: ...`), so one run of
`kflow deploy` lists everything to fix. A key nobody knows gets the nearest known key
suggested. Schedules go through the same validator as the operator's, with the same messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from kflow.cli.deploy_checks import Problems, check_keys, check_model, keys_of
from kflow.cli.deploy_pools import pool_manifests
from kflow.cli.deploy_work_pool import work_pool_key
from kflow.cli.flow_signature import (
    FlowNotLoadable,
    load_flow_function,
    parameter_problems,
    parameter_schema,
)
from kflow.resources import API_VERSION, DEPLOYMENT_KIND, DeploymentSpec, ScheduleSpec
from kflow.resources.schedules import check_schedule

METADATA_KEYS = ("name", "namespace")
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class DeployError(Exception):
    """A mistake in the command or its file; the message says what to do."""


class FileProblems(DeployError):
    """Every problem found in a kflow.yaml, one located line each."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.path = path
        self.problems = list(problems)


@dataclass(frozen=True)
class Entry:
    index: int
    name: str
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class DeploymentsFile:
    path: Path
    entries: list[Entry]
    problems: list[str]
    """Entries that cannot be checked further: not a mapping, no name, a name used twice."""
    pools: list[Entry] = field(default_factory=list)
    """The file's `work_pools:` (kflow.cli.deploy_pools), applied before its deployments."""


# --- the file ------------------------------------------------------------------------------


def load_file(path: Path) -> DeploymentsFile:
    import yaml

    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DeployError(
            f"{path}: no such file; write one with a `deployments:` list "
            "(see examples/kflow.yaml) or pass --file"
        ) from None
    except yaml.YAMLError as error:
        raise DeployError(f"{path}: not valid YAML: {error}") from None
    if isinstance(document, dict) and "workPools" in document:
        if "work_pools" in document:
            raise DeployError(f"{path}: give `work_pools` or `workPools`, not both")
        document["work_pools"] = document.pop("workPools")
    if not isinstance(document, dict) or not (
        isinstance(document.get("deployments"), list)
        or ("deployments" not in document and isinstance(document.get("work_pools"), list))
    ):
        raise DeployError(
            f"{path}: expected a top-level `deployments:` list (and optionally `work_pools:`)"
        )
    entries, problems = named_entries(document.get("deployments") or [], path, "deployments")
    pools: list[Entry] = []
    if "work_pools" in document:
        if not isinstance(document["work_pools"], list):
            problems.append(f"{path}: work_pools: expected a list of pools, each with name, type")
        else:
            pools, pool_problems = named_entries(document["work_pools"], path, "work_pools")
            problems.extend(pool_problems)
    return DeploymentsFile(path, entries, problems, pools)


def named_entries(items: list[Any], path: Path, key: str) -> tuple[list[Entry], list[str]]:
    """The entries of a top-level list, each a mapping with a unique `name`."""
    entries: list[Entry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(items):
        where = f"{path}: {key}[{index}]"
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(raw, dict):
            required = "`name` and `type`" if key == "work_pools" else "`name` and `entrypoint`"
            problems.append(f"{where}: expected a mapping with {required}")
        elif not isinstance(name, str) or not name:
            problems.append(f"{where}: name: required (a string)")
        elif name in seen:
            problems.append(
                f"{where}: name: {name!r} is used by {key}[{seen[name]}] too; names must be unique"
            )
        else:
            seen[name] = index
            entries.append(Entry(index, name, raw))
    return entries, problems


def select(file: DeploymentsFile, names: Sequence[str], everything: bool) -> list[Entry]:
    if everything and names:
        raise DeployError("give deployment names or --all, not both")
    if everything:
        return file.entries
    if not names:
        available = ", ".join(e.name for e in file.entries) or "none"
        raise DeployError(
            f"name the deployments to deploy, or pass --all (in {file.path}: {available})"
        )
    by_name = {e.name: e for e in file.entries}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        available = ", ".join(by_name) or "none"
        raise DeployError(
            f"{file.path}: no deployment named {', '.join(unknown)} (have: {available})"
        )
    return [by_name[n] for n in names]


def build_manifests(
    file: DeploymentsFile, entries: Sequence[Entry], default_namespace: str | None
) -> list[dict[str, Any]]:
    """The file's WorkPools, then the Deployment resources of the selected entries;
    FileProblems listing every problem of the file and of those entries when there is any."""
    manifests, pool_problems = pool_manifests(file.path, file.pools, default_namespace)
    problems = [*file.problems, *pool_problems]
    for entry in entries:
        found = Problems(file.path, entry.name)
        manifests.append(_manifest(entry, found, default_namespace))
        problems.extend(found.lines)
    if problems:
        raise FileProblems(file.path, problems)
    return manifests


# --- one deployment ------------------------------------------------------------------------


class FileKey(NamedTuple):
    """kflow.yaml keys that are not spec fields as they stand: `check` reports their problems
    and returns the spec fields they become."""

    keys: tuple[str, ...]
    check: Callable[[Mapping[str, Any], Problems], dict[str, Any]]


def _manifest(entry: Entry, problems: Problems, default_namespace: str | None) -> dict[str, Any]:
    raw = entry.raw
    spec_keys = keys_of(DeploymentSpec)
    own_keys = [*METADATA_KEYS, *(key for file_key in FILE_KEYS for key in file_key.keys)]
    check_keys(raw, list(dict.fromkeys([*own_keys, *spec_keys])), "", problems)
    _check_metadata(entry, problems)

    entrypoint = raw.get("entrypoint")
    fn = None
    if not isinstance(entrypoint, str):
        problems.add("entrypoint", "required, e.g. 'flows.py:my_flow'")
    else:
        try:
            fn = load_flow_function(entrypoint, Path.cwd())
        except FlowNotLoadable as error:
            problems.add("entrypoint", str(error))
    spec: dict[str, Any] = {"entrypoint": entrypoint}
    spec.update((k, v) for k, v in raw.items() if k in spec_keys and k not in own_keys)
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        problems.add("parameters", "expected a mapping of parameter names to values")
        parameters = {}
    spec["parameters"] = parameters
    fragments: dict[str, Any] = {}
    for file_key in FILE_KEYS:
        fragments.update(file_key.check(raw, problems))
    if fn is not None:
        spec["parameterSchema"] = parameter_schema(fn)
        scheduled = bool(fragments.get("schedules"))
        for name, message in parameter_problems(fn, parameters, scheduled):
            problems.add(f"parameters.{name}", message)
    spec.update(fragments)
    if "workPool" not in spec:
        spec.setdefault("infrastructure", {"type": "process"})
    check_model(DeploymentSpec, spec, "", problems, checked=set(fragments))

    metadata: dict[str, Any] = {"name": entry.name}
    namespace = raw.get("namespace") or default_namespace
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": DEPLOYMENT_KIND, "metadata": metadata, "spec": spec}


def _check_metadata(entry: Entry, problems: Problems) -> None:
    if len(entry.name) > 253 or not _NAME.fullmatch(entry.name):
        problems.add(
            "name",
            "must be a Kubernetes name: lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit (e.g. 'example-deployment')",
        )
    namespace = entry.raw.get("namespace")
    if namespace is not None and not (
        isinstance(namespace, str) and len(namespace) <= 63 and _NAMESPACE.fullmatch(namespace)
    ):
        problems.add(
            "namespace",
            f"{namespace!r} is not a namespace name: lowercase letters, digits and '-', "
            "at most 63 (or leave it out for --namespace or the kube context's)",
        )


def _schedules(raw: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    """`schedule: {...}` or `schedules: [...]` → spec.schedules, each item checked by the
    operator's own validator (kflow.resources.schedules) and the ScheduleSpec model."""
    if "schedule" in raw and "schedules" in raw:
        problems.add("schedule", "give `schedule` (one) or `schedules` (a list), not both")
        return {}
    if "schedule" in raw:
        located = [("schedule", raw["schedule"])]
    else:
        items = raw.get("schedules") or []
        if not isinstance(items, list):
            problems.add(
                "schedules", "expected a list of schedules, each with `cron` or `interval`"
            )
            return {}
        located = [(f"schedules[{index}]", item) for index, item in enumerate(items)]
    keys = keys_of(ScheduleSpec)
    result = []
    for where, item in located:
        if not isinstance(item, dict):
            problems.add(where, "expected a mapping with `cron` or `interval`")
            continue
        check_keys(item, keys, where, problems)
        known = {key: value for key, value in item.items() if key in keys}
        for error in check_schedule(known, where)[1]:
            if not problems.covers(error.field):  # `crn:` already said why `cron` is missing
                problems.add(error.field, error.message)
        check_model(ScheduleSpec, known, where, problems)
        result.append(dict(item))
    return {"schedules": result} if result else {}


FILE_KEYS = (
    FileKey(("schedule", "schedules"), _schedules),
    FileKey(("work_pool",), work_pool_key),
)
