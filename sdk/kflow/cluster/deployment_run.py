"""`run_deployment`: Prefect's way to chain deployments, as a FlowRun of a kflow Deployment.

The FlowRun is created in the namespace of the run that calls it (a flow running on the
cluster: `KFLOW_FLOW_RUN_NAMESPACE`), else the one asked for, else the kube context's — the
namespace `kflow deployment run` would use. Called inside a cluster flow run, the new run
names it in `spec.parentRef` (with the calling task run, if any), as the dashboard and
`kflow flow-run inspect` show subflow runs. The call then waits for the run to end by
reading it every `poll_interval` seconds until `timeout` has passed.

This is a flow process's path too, so it talks through `kflow.cluster.rest` and never
imports the `kubernetes` package unless it must read a kubeconfig's default namespace.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from kflow.cluster.credentials import KubeConfigError, load_credentials
from kflow.cluster.flowrun_api import (
    CONFLICT,
    NOT_FOUND,
    TRANSIENT_ERRORS,
    collection_path,
    short_error,
)
from kflow.cluster.rest import ApiError, KubeRestClient
from kflow.exceptions import KflowException, ParameterTypeError
from kflow.parameter_schema_check import parameter_problems
from kflow.resources import API_VERSION, DEPLOYMENT_PLURAL, FLOWRUN_KIND, FLOWRUN_PLURAL
from kflow.resources.common import format_timestamp
from kflow.result_references import ReferencedState
from kflow.states import TERMINAL_STATE_TYPES, State, StateType

NAMESPACE_ENV = "KFLOW_FLOW_RUN_NAMESPACE"
NAME_ENV = "KFLOW_FLOW_RUN_NAME"


class DeploymentRunError(KflowException, RuntimeError):
    """The run could not be created; the message says what to do."""


@dataclass
class DeploymentFlowRun:
    """The FlowRun `run_deployment` created, as it stood when the call returned.

    `state` is a kflow State: `state.result()` is the flow's return value — inline in the
    FlowRun when small, else read from where `result_reference` says it is kept (a path or
    an s3:// URL) — and raises the run's error when it did not complete.
    """

    name: str
    namespace: str
    id: str
    deployment_name: str
    parameters: dict[str, Any]
    state: State[Any]
    parent_flow_run_name: str | None = None
    result_reference: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def deployment_name(name: str) -> str:
    """Prefect's `"flow-name/deployment-name"` → the kflow Deployment's name (its last part:
    a kflow Deployment is named on its own within its namespace)."""
    flow_name, _, deployment = name.rpartition("/")
    if not deployment or (flow_name and "/" in flow_name):
        raise ValueError(
            f"run_deployment: name {name!r} is not 'deployment-name' or "
            "'flow-name/deployment-name' (kflow uses the part after '/')"
        )
    return deployment


def enclosing_flow_run() -> tuple[str, str] | None:
    """(namespace, name) of the cluster FlowRun this code runs in, if any."""
    namespace, name = os.environ.get(NAMESPACE_ENV), os.environ.get(NAME_ENV)
    return (namespace, name) if namespace and name else None


def parent_ref(as_subflow: bool, namespace: str) -> dict[str, str] | None:
    """`spec.parentRef` for a run started from inside a cluster flow run (of the same
    namespace: a parentRef names a FlowRun next to the child)."""
    from kflow.context import flow_run_ctx, task_run_ctx

    enclosing = enclosing_flow_run()
    if not as_subflow or enclosing is None or flow_run_ctx.get() is None:
        return None
    if enclosing[0] != namespace:
        return None
    ref = {"name": enclosing[1]}
    task = task_run_ctx.get()
    if task is not None:
        ref["taskRunId"] = task.task_run.id
    return ref


def _namespace(requested: str | None) -> str:
    if requested:
        return requested
    enclosing = enclosing_flow_run()
    if enclosing is not None:
        return enclosing[0]
    from kflow.cluster.kubernetes_client import default_namespace

    return default_namespace()


def _client() -> KubeRestClient:
    try:
        return KubeRestClient(load_credentials())
    except KubeConfigError as error:
        raise DeploymentRunError(
            f"run_deployment needs a Kubernetes cluster with kflow installed: {error} Run it "
            "where a kube context points at that cluster (or set KUBECONFIG), or call the "
            "flow directly to run it here."
        ) from None


@dataclass(frozen=True)
class RunRequest:
    """What the new FlowRun asks for, besides its Deployment."""

    parameters: dict[str, Any] = field(default_factory=dict)
    scheduled_time: datetime | None = None
    flow_run_name: str | None = None
    tags: list[str] | None = None
    idempotency_key: str | None = None
    """Runs asked for with the same key are one FlowRun (its name is derived from the key)."""
    as_subflow: bool = True
    job_variables: dict[str, Any] | None = None
    """Prefect's per-run job variables: the FlowRun's own `infrastructure` layer."""


def run_deployment(
    name: str | UUID,
    request: RunRequest,
    timeout: float | None = None,
    poll_interval: float = 1.0,
    namespace: str | None = None,
) -> DeploymentFlowRun:
    values = _jsonable(request.parameters)
    target_namespace = _namespace(namespace)
    rest = _client()
    deployment = _resolve(rest, target_namespace, name)
    parent = parent_ref(request.as_subflow, target_namespace)
    body = flow_run_body(deployment, values, request, parent)
    _check_parameters(rest, target_namespace, deployment, values)
    collection = collection_path(target_namespace, FLOWRUN_PLURAL)
    try:
        created = rest.request("POST", collection, body=body)
    except ApiError as error:
        if error.status != CONFLICT or request.idempotency_key is None:
            raise DeploymentRunError(
                f"run_deployment: the Kubernetes API refused the FlowRun of {deployment} in "
                f"namespace {target_namespace}: {error.status} {error.message or error.reason}"
            ) from None
        created = rest.get(f"{collection}/{body['metadata']['name']}")
    run_name = str(created["metadata"]["name"])
    current = _wait(rest, f"{collection}/{run_name}", created, timeout, poll_interval)
    return flow_run_view(current, target_namespace)


def deployment_id(name: str | UUID) -> str | None:
    """The Deployment id (`metadata.uid`) `name` is, if it is one: a UUID, or its canonical
    text (Prefect's `run_deployment` takes a deployment's id as well as its name)."""
    if isinstance(name, UUID):
        return str(name)
    try:
        parsed = UUID(name)
    except ValueError:
        return None
    return str(parsed) if str(parsed) == name.lower() else None


def _resolve(rest: KubeRestClient, namespace: str, name: str | UUID) -> str:
    """The name of the Deployment `name` stands for. An id is looked up among the namespace's
    Deployments; a text that only looks like one may still be a Deployment's name."""
    uid = deployment_id(name)
    if uid is None:
        return deployment_name(str(name))
    try:
        listed = rest.get(collection_path(namespace, DEPLOYMENT_PLURAL))
    except ApiError as error:
        raise DeploymentRunError(
            f"run_deployment: cannot list the Deployments of namespace {namespace} to find id "
            f"{uid}: {error.status} {error.message or error.reason}"
        ) from None
    except TRANSIENT_ERRORS as error:
        raise _unreachable(rest, error) from None
    for item in listed.get("items") or []:
        metadata = item.get("metadata") or {}
        if metadata.get("uid") == uid:
            return str(metadata["name"])
    if isinstance(name, UUID):
        raise DeploymentRunError(
            f"run_deployment: no Deployment with id {uid} in namespace {namespace} "
            f"(`kubectl get deployments.kflow.dev -n {namespace} -o "
            "custom-columns=NAME:.metadata.name,ID:.metadata.uid` lists them; pass "
            "namespace=... for another)"
        )
    return deployment_name(name)


def _unreachable(rest: KubeRestClient, error: Exception) -> DeploymentRunError:
    return DeploymentRunError(
        f"run_deployment: cannot reach the Kubernetes API server {rest.host} "
        f"({short_error(error)}); check the kube context or KUBECONFIG"
    )


def _check_parameters(
    rest: KubeRestClient, namespace: str, name: str, parameters: dict[str, Any]
) -> None:
    """Raise unless the Deployment exists and the parameters pass its schema."""
    try:
        deployment = rest.get(f"{collection_path(namespace, DEPLOYMENT_PLURAL)}/{name}")
    except ApiError as error:
        if error.status == NOT_FOUND:
            raise DeploymentRunError(
                f"run_deployment: Deployment {name!r} not found in namespace {namespace} "
                f"(`kflow deployment ls -n {namespace}` lists them; pass namespace=... for "
                "another)"
            ) from None
        raise DeploymentRunError(
            f"run_deployment: cannot read Deployment {namespace}/{name}: "
            f"{error.status} {error.message or error.reason}"
        ) from None
    except TRANSIENT_ERRORS as error:
        raise _unreachable(rest, error) from None
    spec: dict[str, Any] = deployment.get("spec") or {}
    problems = parameter_problems(spec.get("parameterSchema"), spec.get("parameters"), parameters)
    if problems:
        raise ParameterTypeError(
            f"run_deployment({name!r}): parameters the flow would refuse, nothing was "
            f"started: {'; '.join(problems)}"
        )


def flow_run_body(
    deployment: str,
    parameters: dict[str, Any],
    request: RunRequest,
    parent: dict[str, str] | None,
) -> dict[str, Any]:
    """The FlowRun to create."""
    spec: dict[str, Any] = {"deploymentRef": {"name": deployment}}
    if parameters:
        spec["parameters"] = parameters
    if request.tags:
        spec["tags"] = list(request.tags)
    if request.flow_run_name:
        spec["runName"] = request.flow_run_name
    if request.scheduled_time is not None:
        spec["scheduledTime"] = format_timestamp(_aware(request.scheduled_time))
    if request.job_variables:
        spec["infrastructure"] = run_infrastructure(deployment, request.job_variables)
    if parent is not None:
        spec["parentRef"] = parent
    metadata: dict[str, Any] = {"generateName": f"{deployment[:50]}-"}
    if request.idempotency_key is not None:
        digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:16]
        metadata = {"name": f"{deployment[:50]}-{digest}"}
    return {"apiVersion": API_VERSION, "kind": FLOWRUN_KIND, "metadata": metadata, "spec": spec}


def run_infrastructure(deployment: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Job variables as the FlowRun's `infrastructure`, mapped as kflow.yaml maps a
    deployment's (kflow.cli.deploy_work_pool)."""
    from pathlib import Path

    from kflow.cli.deploy_checks import Problems, check_model
    from kflow.cli.deploy_work_pool import job_variables_infrastructure
    from kflow.resources import InfrastructureSpec

    problems = Problems(Path("run_deployment()"), deployment)
    infrastructure = job_variables_infrastructure(variables, "job_variables", problems)
    if not problems.lines:
        check_model(InfrastructureSpec, infrastructure, "job_variables", problems)
    if problems.lines:
        raise DeploymentRunError("; ".join(problems.lines))
    return infrastructure


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.astimezone()


def _jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters as the JSON a FlowRun spec holds (datetimes, UUIDs, models... encoded the
    way pydantic would), or a message naming the one that has no JSON form."""
    from pydantic_core import PydanticSerializationError, to_jsonable_python

    encoded: dict[str, Any] = {}
    for key, value in parameters.items():
        try:
            encoded[key] = to_jsonable_python(value)
        except PydanticSerializationError:
            raise ParameterTypeError(
                f"run_deployment: parameter {key!r} ({type(value).__name__}) has no JSON form; "
                "a FlowRun's parameters are JSON: pass plain values"
            ) from None
    return encoded


def _wait(
    rest: KubeRestClient,
    path: str,
    current: dict[str, Any],
    timeout: float | None,
    poll_interval: float,
) -> dict[str, Any]:
    """The FlowRun once it ended, or as it is when `timeout` seconds have passed (0: at once,
    None: no limit)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not _ended(current):
        if deadline is not None and time.monotonic() >= deadline:
            return current
        pause = (
            poll_interval if deadline is None else min(poll_interval, deadline - time.monotonic())
        )
        time.sleep(max(pause, 0.0))
        try:
            current = rest.get(path)
        except TRANSIENT_ERRORS:
            continue
    return current


def _ended(flow_run: dict[str, Any]) -> bool:
    state = ((flow_run.get("status") or {}).get("state") or {}).get("type")
    return state in {t.value for t in TERMINAL_STATE_TYPES}


def flow_run_view(flow_run: dict[str, Any], namespace: str) -> DeploymentFlowRun:
    spec = flow_run.get("spec") or {}
    status = flow_run.get("status") or {}
    record = status.get("state") or {}
    result = status.get("result") or {}
    state_type = StateType(record.get("type") or StateType.SCHEDULED.value)
    reference = result.get("reference")
    state: State[Any]
    if state_type is StateType.COMPLETED and reference and "value" not in result:
        state = ReferencedState(
            str(reference), name=record.get("name"), message=record.get("message")
        )
    else:
        data = result.get("value") if state_type is StateType.COMPLETED else None
        state = State(state_type, name=record.get("name"), message=record.get("message"), data=data)
    return DeploymentFlowRun(
        name=str(flow_run["metadata"]["name"]),
        namespace=namespace,
        id=str(flow_run["metadata"].get("uid") or ""),
        deployment_name=str((spec.get("deploymentRef") or {}).get("name") or ""),
        parameters=dict(spec.get("parameters") or {}),
        state=state,
        parent_flow_run_name=(spec.get("parentRef") or {}).get("name"),
        result_reference=result.get("reference"),
        raw=flow_run,
    )
