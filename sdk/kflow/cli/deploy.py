"""`kflow deploy`: turn the deployments listed in kflow.yaml into Deployment resources.

    deployments:
      - name: example-deployment
        entrypoint: examples/example_flow.py:example_workflow
        schedule:                        # or `schedules:` with a list of these
          cron: "0 9 * * *"
          timezone: Asia/Tokyo           # optional, default UTC
        parameters: {name: kflow}
        infrastructure: {type: process}  # default; or docker / kubernetes-job with an image
        tags: [example]
        namespace: default               # optional: else --namespace, else the kube context's

Any other Deployment spec field (paused, catchup, concurrencyPolicy, concurrencyLimit,
startingDeadlineSeconds, upcomingRuns, successfulRunsHistoryLimit, …) may be given too, in
the CRD's camelCase.

Every entrypoint is imported (relative to the current directory, the project root, as the
run's working directory will be) to check that it exists
and is a kflow flow; its signature gives `parameterSchema` (JSON schema, via pydantic) and the
default `parameters` are checked against it. Nothing is applied unless every selected
deployment is valid. Applying is server-side apply with field manager `kflow-deploy`, so a
re-deploy updates exactly the fields kflow.yaml sets and leaves the operator's status alone.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIELD_MANAGER = "kflow-deploy"
DEFAULT_FILE = "kflow.yaml"
_OWN_KEYS = ("name", "namespace", "entrypoint", "schedule", "schedules")


class DeployError(Exception):
    """A problem in kflow.yaml; the message names the file, the deployment and the field."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="create or update Deployments from kflow.yaml",
        description="Read the deployments in kflow.yaml, check each entrypoint and its "
        "parameters, and server-side-apply them as kflow.dev Deployments "
        f"(field manager {FIELD_MANAGER}).",
    )
    parser.add_argument("names", nargs="*", help="deployments to deploy (by name)")
    parser.add_argument("--all", action="store_true", help="deploy every deployment in the file")
    parser.add_argument(
        "-f",
        "--file",
        type=Path,
        default=Path(DEFAULT_FILE),
        help=f"the deployments file (default: ./{DEFAULT_FILE})",
    )
    parser.add_argument(
        "-n", "--namespace", help="namespace for deployments that name none (default: context's)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the Deployment YAML (for `kubectl apply -f -`) instead of applying it",
    )
    parser.add_argument("--context", help="kube context to use (default: the current one)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        entries = select(load_file(args.file), args.names, args.all, args.file)
        manifests = [build_manifest(entry, args.file, args.namespace) for entry in entries]
    except DeployError as error:
        print(f"kflow deploy: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        import yaml

        sys.stdout.write(yaml.safe_dump_all(manifests, sort_keys=False))
        return 0
    try:
        for manifest in manifests:
            namespace = apply(manifest, args.namespace, args.context)
            print(f"deployment.kflow.dev/{manifest['metadata']['name']} applied in {namespace}")
    except DeployError as error:
        print(f"kflow deploy: {error}", file=sys.stderr)
        return 1
    return 0


# --- reading kflow.yaml --------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    index: int
    name: str
    raw: Mapping[str, Any]

    def where(self, path: Path, field: str | None = None) -> str:
        place = f"{path}: deployments[{self.index}] ({self.name})"
        return f"{place}: {field}" if field else place


def load_file(path: Path) -> list[Entry]:
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
    if not isinstance(document, dict) or not isinstance(document.get("deployments"), list):
        raise DeployError(f"{path}: expected a top-level `deployments:` list")
    entries = []
    seen: set[str] = set()
    for index, raw in enumerate(document["deployments"]):
        if not isinstance(raw, dict):
            raise DeployError(f"{path}: deployments[{index}]: expected a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise DeployError(f"{path}: deployments[{index}]: name: required (a string)")
        if name in seen:
            raise DeployError(f"{path}: deployments[{index}] ({name}): name: used twice")
        seen.add(name)
        entries.append(Entry(index, name, raw))
    return entries


def select(entries: list[Entry], names: Sequence[str], everything: bool, path: Path) -> list[Entry]:
    if everything and names:
        raise DeployError("give deployment names or --all, not both")
    if everything:
        return entries
    if not names:
        available = ", ".join(e.name for e in entries) or "none"
        raise DeployError(f"name the deployments to deploy, or pass --all (in {path}: {available})")
    by_name = {e.name: e for e in entries}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        available = ", ".join(by_name) or "none"
        raise DeployError(f"{path}: no deployment named {', '.join(unknown)} (have: {available})")
    return [by_name[n] for n in names]


# --- one Deployment ----------------------------------------------------------------------


def build_manifest(entry: Entry, path: Path, default_namespace: str | None) -> dict[str, Any]:
    """The Deployment resource for one entry, fully checked; DeployError naming the field."""
    from pydantic import ValidationError

    from kflow.resources import API_VERSION, DEPLOYMENT_KIND, DeploymentSpec

    raw = entry.raw
    _check_name(entry, path)
    entrypoint = raw.get("entrypoint")
    if not isinstance(entrypoint, str):
        raise DeployError(entry.where(path, "entrypoint") + ": required, e.g. 'flows.py:my_flow'")
    fn = load_flow_function(entrypoint, Path.cwd(), entry.where(path, "entrypoint"))
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise DeployError(entry.where(path, "parameters") + ": expected a mapping")
    schema = parameter_schema(fn)
    schedules = _schedules(entry, path)
    check_parameters(fn, parameters, entry.where(path, "parameters"), bool(schedules))

    spec: dict[str, Any] = {"entrypoint": entrypoint}
    for key, value in raw.items():
        if key not in _OWN_KEYS:
            spec[key] = value
    spec.setdefault("infrastructure", {"type": "process"})
    spec["parameters"] = parameters
    spec["parameterSchema"] = schema
    if schedules:
        spec["schedules"] = schedules
    try:
        DeploymentSpec.model_validate(spec)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "spec"
        raise DeployError(
            entry.where(path, field) + f": {problem['msg']} (got {problem.get('input')!r})"
        ) from None

    metadata: dict[str, Any] = {"name": entry.name}
    namespace = raw.get("namespace") or default_namespace
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": DEPLOYMENT_KIND, "metadata": metadata, "spec": spec}


def _check_name(entry: Entry, path: Path) -> None:
    import re

    if len(entry.name) > 253 or not re.fullmatch(
        r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", entry.name
    ):
        raise DeployError(
            entry.where(path, "name")
            + ": must be a Kubernetes name: lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit (e.g. 'example-deployment')"
        )


def _schedules(entry: Entry, path: Path) -> list[dict[str, Any]]:
    raw = entry.raw
    if "schedule" in raw and "schedules" in raw:
        raise DeployError(entry.where(path, "schedule") + ": give `schedule` or `schedules`")
    if "schedule" in raw:
        items, field = [raw["schedule"]], "schedule"
    else:
        items, field = raw.get("schedules") or [], "schedules"
        if not isinstance(items, list):
            raise DeployError(entry.where(path, field) + ": expected a list")
    result = []
    for index, item in enumerate(items):
        where = entry.where(path, field if field == "schedule" else f"{field}[{index}]")
        if not isinstance(item, dict):
            raise DeployError(where + ": expected a mapping with `cron` or `interval`")
        if ("cron" in item) == ("interval" in item):
            raise DeployError(where + ": give exactly one of `cron` or `interval`")
        if "cron" in item:
            _check_cron(item, where)
        result.append(dict(item))
    return result


def _check_cron(item: Mapping[str, Any], where: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from croniter import croniter

    cron = item["cron"]
    if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise DeployError(
            f"{where}.cron: {cron!r} is not a 5-field cron expression "
            "(minute hour day-of-month month day-of-week, e.g. '0 9 * * *')"
        )
    zone = item.get("timezone")
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise DeployError(
                f"{where}.timezone: unknown time zone {zone!r}; use an IANA name such as "
                "'Europe/Berlin' or 'UTC'"
            ) from None


# --- the flow's parameters -----------------------------------------------------------------


def load_flow_function(entrypoint: str, base: Path, where: str) -> Any:
    """The function behind a kflow flow entrypoint; DeployError when it is not one."""
    from kflow.cluster.entrypoint import EntrypointError, load_entrypoint
    from kflow.flows import Flow

    try:
        target = load_entrypoint(entrypoint, base)
    except EntrypointError as error:
        raise DeployError(f"{where}: {error}") from None
    except Exception as error:
        raise DeployError(
            f"{where}: importing {entrypoint!r} failed: {type(error).__name__}: {error}"
        ) from None
    if not isinstance(target, Flow):
        raise DeployError(
            f"{where}: {entrypoint!r} is {type(target).__name__}, not a kflow flow; "
            "decorate the function with @flow (from kflow import flow)"
        )
    return target.fn


def _parameters_model(fn: Any) -> Any:
    """A pydantic model of the function's parameters (fields aliased to the real names, so
    names such as `json` or `schema` work)."""
    from pydantic import ConfigDict, Field, create_model

    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    fields: dict[str, Any] = {}
    for index, parameter in enumerate(signature.parameters.values()):
        hint = hints.get(parameter.name, Any)
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            hint = list[hint]  # type: ignore[valid-type]
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            hint = dict[str, hint]  # type: ignore[valid-type]
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            default = None
        fields[f"p{index}"] = (hint, Field(default, alias=parameter.name))
    return create_model(
        f"{getattr(fn, '__name__', 'flow')}_parameters",
        __config__=ConfigDict(arbitrary_types_allowed=True, extra="forbid"),
        **fields,
    )


def parameter_schema(fn: Any) -> dict[str, Any]:
    """JSON schema of the flow's parameters, from its signature and type hints."""
    from pydantic.errors import PydanticInvalidForJsonSchema

    model = _parameters_model(fn)
    try:
        schema: dict[str, Any] = model.model_json_schema(by_alias=True)
    except PydanticInvalidForJsonSchema:
        # A parameter type with no JSON form (an arbitrary class): the names are still known.
        names = list(inspect.signature(fn).parameters)
        schema = {"type": "object", "properties": {n: {} for n in names}}
    schema["title"] = getattr(fn, "__name__", "flow")
    return schema


def check_parameters(fn: Any, parameters: Mapping[str, Any], where: str, scheduled: bool) -> None:
    """The default parameters must be valid for the flow; with schedules they must also be
    complete (a scheduled run gets nothing else)."""
    from pydantic import ValidationError

    model = _parameters_model(fn)
    names = list(inspect.signature(fn).parameters)
    unknown = [key for key in parameters if key not in names]
    if unknown:
        raise DeployError(
            f"{where}.{unknown[0]}: the flow has no parameter {unknown[0]!r} "
            f"(its parameters: {', '.join(names) or 'none'})"
        )
    try:
        model.model_validate(dict(parameters))
    except ValidationError as error:
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else ""
            if problem["type"] == "missing":
                if scheduled:
                    raise DeployError(
                        f"{where}.{name}: required by the flow and missing; scheduled runs get "
                        "only these parameters"
                    ) from None
                continue
            detail = ".".join(str(p) for p in problem["loc"])
            raise DeployError(
                f"{where}.{detail}: {problem['msg']} (got {problem.get('input')!r})"
            ) from None


# --- applying ----------------------------------------------------------------------------


def apply(manifest: dict[str, Any], default_namespace: str | None, context: str | None) -> str:
    """Server-side apply; returns the namespace it went to."""
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    from kflow.cluster.kube import new_api_client
    from kflow.resources import DEPLOYMENT_PLURAL, GROUP, VERSION

    namespace = manifest["metadata"].get("namespace") or _context_namespace(context)
    manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    api = CustomObjectsApi(new_api_client(context))
    name = manifest["metadata"]["name"]
    try:
        api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            DEPLOYMENT_PLURAL,
            name,
            manifest,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )
    except ApiException as error:
        raise DeployError(
            f"applying Deployment {namespace}/{name}: {_api_message(error)}"
        ) from None
    return str(namespace)


def _context_namespace(context: str | None) -> str:
    from kubernetes import config

    from kflow.cluster.kube import in_cluster

    if context is None and in_cluster():
        path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        return path.read_text().strip() if path.is_file() else "default"
    try:
        contexts, current = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    except Exception:
        return "default"
    chosen = next((c for c in contexts if c["name"] == context), current) if context else current
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


def _api_message(error: Any) -> str:
    import json

    try:
        return str(json.loads(error.body)["message"])
    except Exception:
        return f"{error.status} {error.reason}"
