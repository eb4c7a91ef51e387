"""`kflow deploy`: turn the deployments listed in kflow.yaml into Deployment resources.

What kflow.yaml holds and how it is checked: kflow.cli.deploy_file. Every entrypoint is
imported (relative to the current directory, the project root, as the run's working directory
will be) to check that it exists and is a kflow flow; its signature gives `parameterSchema`
(JSON schema, via pydantic) and the default `parameters` are checked against it. Nothing is
applied unless every selected deployment is valid; then every problem of the file is listed,
one line each. Applying is server-side apply with field manager `kflow-deploy`, so a
re-deploy updates exactly the fields kflow.yaml sets and leaves the operator's status alone.

A missing kube config or an unreachable API server is one line saying what to set, as for the
other cluster commands (kflow.cluster.kubernetes_client.new_api_client).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

FIELD_MANAGER = "kflow-deploy"
DEFAULT_FILE = "kflow.yaml"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="create or update Deployments from kflow.yaml",
        description="Read the deployments in kflow.yaml, check each entrypoint and its "
        "parameters, and server-side-apply them as kflow.dev Deployments "
        f"(field manager {FIELD_MANAGER}); the file's work_pools are applied first.",
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
    from kflow.cli.deploy_file import DeployError, FileProblems, build_manifests, load_file, select

    try:
        file = load_file(args.file)
        manifests = build_manifests(file, select(file, args.names, args.all), args.namespace)
    except FileProblems as report:
        for line in report.problems:
            print(line, file=sys.stderr)
        count = len(report.problems)
        print(
            f"kflow deploy: {count} problem{'s' if count > 1 else ''} in {report.path}; "
            "nothing was applied",
            file=sys.stderr,
        )
        return 2
    except DeployError as error:
        print(f"kflow deploy: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        import yaml

        sys.stdout.write(yaml.safe_dump_all(manifests, sort_keys=False))
        return 0
    return apply_all(manifests, args.context)


# --- applying ----------------------------------------------------------------------------


class ApplyError(Exception):
    """A manifest could not be applied; the message says what to check."""


def apply_all(manifests: list[dict[str, Any]], context: str | None) -> int:
    """`apply_manifests`, its failure as one line; the exit status."""
    try:
        apply_manifests(manifests, context)
    except ApplyError as error:
        return _fail(str(error))
    return 0


def apply_manifests(manifests: list[dict[str, Any]], context: str | None) -> list[str]:
    """Server-side apply each WorkPool and Deployment, in order, saying where it went; warn
    about a Deployment whose pool does not exist. The `namespace/name` of each, or ApplyError
    (also for no kube configuration at all)."""
    import urllib3
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    from kflow.cluster.kubernetes_client import KubeConfigError, default_namespace, new_api_client
    from kflow.resources import DEPLOYMENT_PLURAL, GROUP, VERSION, WORKPOOL_KIND, WORKPOOL_PLURAL

    try:
        api_client = new_api_client(context)
    except KubeConfigError as error:
        raise ApplyError(str(error)) from None
    api = CustomObjectsApi(api_client)
    context_namespace = default_namespace(context)
    applied = []
    for manifest in manifests:
        name = manifest["metadata"]["name"]
        namespace = manifest["metadata"].get("namespace") or context_namespace
        body = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
        kind = manifest["kind"]
        plural = WORKPOOL_PLURAL if kind == WORKPOOL_KIND else DEPLOYMENT_PLURAL
        try:
            api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                body,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type="application/apply-patch+yaml",
            )
            pool = (manifest["spec"].get("workPool") or {}).get("name")
            missing = pool and not _pool_exists(api, namespace, pool)
        except ApiException as error:
            raise ApplyError(f"applying {kind} {namespace}/{name}: {_api_message(error)}") from None
        except (OSError, urllib3.exceptions.HTTPError) as error:
            raise ApplyError(
                f"cannot reach the Kubernetes API server {api_client.configuration.host} "
                f"({type(error).__name__}); check the kube context (--context) or KUBECONFIG"
            ) from None
        print(f"{kind.lower()}.kflow.dev/{name} applied in {namespace}")
        applied.append(f"{namespace}/{name}")
        if missing:
            print(
                f"kflow deploy: warning: work pool {pool} does not exist in {namespace}; runs of "
                f"{name} wait (AwaitingWorkPool) until `kflow work-pool create {pool} --type "
                f"kubernetes-job|docker|process -n {namespace}` creates it",
                file=sys.stderr,
            )
    return applied


def _pool_exists(api: Any, namespace: str, pool: str) -> bool:
    """Whether the WorkPool a Deployment names exists (a missing one is worth a warning, not a
    failure: it may be created next, and the runs wait for it)."""
    from kubernetes.client.exceptions import ApiException

    from kflow.resources import GROUP, VERSION, WORKPOOL_PLURAL

    try:
        api.get_namespaced_custom_object(GROUP, VERSION, namespace, WORKPOOL_PLURAL, pool)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _fail(message: str) -> int:
    print(f"kflow deploy: {message}", file=sys.stderr)
    return 1


def _api_message(error: Any) -> str:
    import json

    try:
        return str(json.loads(error.body)["message"])
    except Exception:
        return f"{error.status} {error.reason}"
