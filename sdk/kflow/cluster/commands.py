"""The cluster side of `kflow deployment …` and `kflow flow-run …` (handlers; the parsers
are built in kflow.cli.cluster_runs, which imports this module only when a command runs).

Every command talks to the Kubernetes API with the current kube context (or `--context`) in
the context's namespace (or `-n/--namespace`), the way kubectl does, so a user switching
between the two sees the same objects. Changes go through the FlowRun spec only (`cancel`,
`paused`); the operator and the flow process do the rest.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any, cast

import urllib3
from kubernetes import client

from kflow.cli import Handler
from kflow.cli.output import render
from kflow.cluster.credentials import load_credentials
from kflow.cluster.flowrun_api import (
    NOT_FOUND,
    TRANSIENT_ERRORS,
    FlowRunApi,
    collection_path,
    short_error,
)
from kflow.cluster.kubernetes_client import (
    DEPLOYMENTS,
    FLOWRUNS,
    GROUP,
    VERSION,
    KubeConfigError,
    default_namespace,
    new_api_client,
)
from kflow.cluster.logs import LogsUnavailable, write_flow_run_logs
from kflow.cluster.presentation import (
    DEPLOYMENT_HEADERS,
    FLOW_RUN_HEADERS,
    ParameterSyntaxError,
    by_creation,
    deployment_row,
    flow_run_details,
    flow_run_row,
    parse_parameter_assignments,
    table,
)
from kflow.cluster.rest import ApiError, KubeRestClient
from kflow.cluster.run_infrastructure_view import (
    EffectiveView,
    effective_section,
    effective_view,
    unreadable_view,
)
from kflow.resources import API_VERSION, FLOWRUN_KIND, WORKPOOL_PLURAL
from kflow.resources.pools import run_pool
from kflow.states import StateType

FORBIDDEN = 403


class Target:
    """The API client and namespace a command acts on."""

    def __init__(self, args: argparse.Namespace) -> None:
        context = cast(str | None, getattr(args, "context", None))
        self.context = context
        self.api_client = new_api_client(context)
        self.namespace = cast(str | None, getattr(args, "namespace", None)) or (
            default_namespace(context)
        )
        args.resolved_namespace = self.namespace
        args.target = self
        self.objects = client.CustomObjectsApi(self.api_client)

    def flow_run(self, name: str) -> FlowRunApi:
        return FlowRunApi(KubeRestClient(load_credentials(self.context)), self.namespace, name)

    def list(self, plural: str) -> list[dict[str, Any]]:
        listed = cast(
            dict[str, Any],
            self.objects.list_namespaced_custom_object(GROUP, VERSION, self.namespace, plural),
        )
        return cast(list[dict[str, Any]], listed.get("items") or [])


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def guarded(handler: Handler) -> Handler:
    """Turn the errors a user can fix into one readable line and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except KubeConfigError as error:
            return fail(str(error))
        except ParameterSyntaxError as error:
            return fail(str(error))
        except LogsUnavailable as error:
            return fail(str(error))
        except (*TRANSIENT_ERRORS, urllib3.exceptions.HTTPError) as error:
            host = _api_host(args)
            return fail(
                f"cannot reach the Kubernetes API server {host} ({short_error(error)}); "
                "check the kube context (--context), or use --local for this machine's runs"
            )
        except (client.ApiException, ApiError) as error:
            if error.status == NOT_FOUND:
                name = getattr(args, "id", None) or getattr(args, "name", "")
                namespace = getattr(args, "resolved_namespace", None) or args.namespace
                kind, lister = (
                    ("Deployment", "kflow deployment ls")
                    if getattr(args, "deployment_command", None)
                    else ("FlowRun", "kflow flow-run ls")
                )
                return fail(
                    f"{kind} {name!r} not found in namespace {namespace} ({lister} -n "
                    f"{namespace} lists them; -n/--namespace picks another)"
                )
            return fail(f"the Kubernetes API refused the request: {error.status} {error.reason}")

    run.__doc__ = handler.__doc__
    return run


def _api_host(args: argparse.Namespace) -> str:
    target = getattr(args, "target", None)
    return str(target.api_client.configuration.host) if target is not None else ""


@guarded
def deployment_ls(args: argparse.Namespace) -> int:
    target = Target(args)
    now = datetime.now(UTC)
    rows = [deployment_row(o, now) for o in sorted(target.list(DEPLOYMENTS), key=_name)]
    if not rows:
        print(f"No deployments in namespace {target.namespace}.")
        return 0
    print(table(DEPLOYMENT_HEADERS, rows))
    return 0


@guarded
def deployment_run(args: argparse.Namespace) -> int:
    """Create a FlowRun of the Deployment; the operator starts it."""
    target = Target(args)
    parameters = parse_parameter_assignments(args.param or [])
    target.objects.get_namespaced_custom_object(
        GROUP, VERSION, target.namespace, DEPLOYMENTS, args.name
    )
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": FLOWRUN_KIND,
        "metadata": {"generateName": f"{args.name[:50]}-"},
        "spec": {"deploymentRef": {"name": args.name}},
    }
    if parameters:
        body["spec"]["parameters"] = parameters
    created = cast(
        dict[str, Any],
        target.objects.create_namespaced_custom_object(
            GROUP, VERSION, target.namespace, FLOWRUNS, body
        ),
    )
    print(created["metadata"]["name"])
    return 0


@guarded
def flow_run_ls(args: argparse.Namespace) -> int:
    target = Target(args)
    now = datetime.now(UTC)
    objects = target.list(FLOWRUNS)
    deployment = getattr(args, "deployment", None)
    if deployment:
        objects = [
            o
            for o in objects
            if ((o.get("spec") or {}).get("deploymentRef") or {}).get("name") == deployment
        ]
    limit = getattr(args, "limit", None) or None
    shown = by_creation(objects)[:limit]
    output = getattr(args, "output", None)
    if output:
        items = [without_managed_fields(dict(o)) for o in shown]
        print(render({"apiVersion": "v1", "kind": "List", "items": items}, output), end="")
        return 0
    rows = [flow_run_row(o, now) for o in shown]
    if not rows:
        print(f"No flow runs in namespace {target.namespace}.")
        return 0
    print(table(FLOW_RUN_HEADERS, rows))
    return 0


@guarded
def flow_run_inspect(args: argparse.Namespace) -> int:
    """The FlowRun, with its pool and the infrastructure it gets (the launch's merge rule)."""
    api = Target(args).flow_run(args.id)
    obj = without_managed_fields(api.get())
    view = _effective(api, obj)
    output = getattr(args, "output", None)
    if output:
        print(render({**obj, "effectiveInfrastructure": view.document()}, output), end="")
    else:
        print(flow_run_details(obj, sections=[effective_section(view)]))
    return 0


def _effective(api: FlowRunApi, run: dict[str, Any]) -> EffectiveView:
    """The run's pool and infrastructure; a user who may read runs but not their Deployment or
    pool still gets the rest of the run, with the reason in place of the infrastructure."""
    try:
        return effective_view(run, *_run_sources(api, run))
    except ApiError as error:
        if error.status != FORBIDDEN:
            raise
        return unreadable_view(error.message or f"{error.status} {error.reason}")


def _run_sources(
    api: FlowRunApi, run: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The run's Deployment and WorkPool objects (None: it names none, or it does not exist)."""
    spec = run.get("spec") or {}
    deployment_name = (spec.get("deploymentRef") or {}).get("name")
    deployment = api.get_deployment(deployment_name) if deployment_name else None
    pool_name = run_pool(spec, (deployment or {}).get("spec"))
    if not pool_name:
        return deployment, None
    try:
        pool = api.rest.get(f"{collection_path(api.namespace, WORKPOOL_PLURAL)}/{pool_name}")
    except ApiError as error:
        if error.status != NOT_FOUND:
            raise
        pool = None
    return deployment, pool


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """What kubectl shows: the server's field-ownership bookkeeping left out."""
    obj["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return obj


@guarded
def flow_run_cancel(args: argparse.Namespace) -> int:
    api = Target(args).flow_run(args.id)
    state = _state_type(api.get())
    if state in {t.value for t in (StateType.COMPLETED, StateType.FAILED, StateType.CRASHED)}:
        return fail(f"flow run {args.id} already ended ({state}); nothing to cancel")
    api.patch_spec({"cancel": True})
    print(f"Cancelling flow run {args.id}")
    return 0


@guarded
def flow_run_resume(args: argparse.Namespace) -> int:
    api = Target(args).flow_run(args.id)
    obj = api.get()
    if _state_type(obj) != StateType.PAUSED.value and not (obj.get("spec") or {}).get("paused"):
        return fail(f"flow run {args.id} is not paused (state {_state_type(obj) or 'none'})")
    api.patch_spec({"paused": False})
    print(f"Resumed flow run {args.id}")
    return 0


@guarded
def flow_run_logs(args: argparse.Namespace) -> int:
    target = Target(args)
    write_flow_run_logs(target.api_client, target.flow_run(args.id), args.follow, sys.stdout)
    return 0


def _state_type(obj: dict[str, Any]) -> str | None:
    state = ((obj.get("status") or {}).get("state") or {}).get("type")
    return str(state) if state else None


def _name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])
