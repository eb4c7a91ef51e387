"""The handlers of `kflow work-pool …` (parsers: kflow.cli.work_pools).

Each verb is one call on the WorkPool object, the way kubectl would make it: create is a POST
the API server validates (its refusal is shown as it words it, naming the field), pause, resume
and the limit are merge patches of `spec`, so nothing else a user or Helm set is touched.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kflow.cli.output import render
from kflow.cluster.commands import Target, fail, guarded, without_managed_fields
from kflow.cluster.credentials import load_credentials
from kflow.cluster.flowrun_api import NOT_FOUND, collection_path
from kflow.cluster.rest import ApiError, KubeRestClient
from kflow.cluster.workpool_presentation import work_pool_details, work_pool_table
from kflow.cluster.workpool_spec import PoolSpecError, pool_manifest
from kflow.resources import DEPLOYMENT_PLURAL, WORKPOOL_PLURAL

ALREADY_EXISTS = 409
Handler = Callable[[argparse.Namespace], int]


class _Pools:
    """The WorkPools of the command's namespace."""

    def __init__(self, args: argparse.Namespace) -> None:
        target = Target(args)
        self.namespace = target.namespace
        self.rest = KubeRestClient(load_credentials(target.context))
        self.collection = collection_path(self.namespace, WORKPOOL_PLURAL)

    def get(self, name: str) -> dict[str, Any]:
        return self.rest.get(f"{self.collection}/{name}")

    def all(self) -> list[dict[str, Any]]:
        return list(self.rest.get(self.collection).get("items") or [])

    def patch_spec(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.rest.merge_patch(f"{self.collection}/{name}", {"spec": patch})

    def deployments_using(self, name: str) -> list[str]:
        listed = self.rest.get(collection_path(self.namespace, DEPLOYMENT_PLURAL))
        return sorted(
            str(d["metadata"]["name"])
            for d in listed.get("items") or []
            if ((d.get("spec") or {}).get("workPool") or {}).get("name") == name
        )


def _pool_guarded(handler: Handler) -> Handler:
    """`guarded`, with a missing pool said as such: which namespace, how to create it."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ApiError as error:
            namespace = getattr(args, "resolved_namespace", None) or args.namespace
            if error.status == NOT_FOUND and not getattr(args, "name", None):
                return fail(
                    "this cluster has no WorkPool kind (kflow.dev/v1alpha1 workpools); install "
                    "kflow's CRDs (kubectl apply -f crds/, or the Helm chart)"
                )
            if error.status != NOT_FOUND:
                return fail(f"the Kubernetes API refused it: {error.message or error.reason}")
            return fail(
                f"work pool {args.name!r} not found in namespace {namespace} "
                f"(kflow work-pool ls -n {namespace} lists them; create it with "
                f"kflow work-pool create {args.name} --type kubernetes-job|docker|process "
                f"-n {namespace}; -n/--namespace picks another namespace)"
            )

    run.__doc__ = handler.__doc__
    return guarded(run)


@_pool_guarded
def work_pool_ls(args: argparse.Namespace) -> int:
    pools = _Pools(args)
    found = [without_managed_fields(pool) for pool in pools.all()]
    if args.output:
        print(render({"apiVersion": "v1", "kind": "List", "items": found}, args.output), end="")
        return 0
    if not found:
        print(
            f"No work pools in namespace {pools.namespace} "
            "(kflow work-pool create NAME --type kubernetes-job|docker|process makes one)."
        )
        return 0
    print(work_pool_table(found, datetime.now(UTC)))
    return 0


@_pool_guarded
def work_pool_inspect(args: argparse.Namespace) -> int:
    pools = _Pools(args)
    pool = without_managed_fields(pools.get(args.name))
    if args.output:
        print(render(pool, args.output), end="")
        return 0
    print(work_pool_details(pool, datetime.now(UTC), pools.deployments_using(args.name)))
    return 0


@_pool_guarded
def work_pool_create(args: argparse.Namespace) -> int:
    try:
        manifest = pool_manifest(
            args.name,
            pool_type=args.type,
            limit=args.limit,
            image=args.image,
            paused=args.paused,
            description=args.description,
            file=Path(args.file) if args.file else None,
        )
    except PoolSpecError as error:
        return fail(str(error))
    pools = _Pools(args)
    try:
        pools.rest.request("POST", pools.collection, body=manifest)
    except ApiError as error:
        if error.status == ALREADY_EXISTS:
            return fail(
                f"work pool {args.name!r} already exists in namespace {pools.namespace} "
                f"(kflow work-pool inspect {args.name} shows it; pause, resume and "
                "set-concurrency-limit change it; delete removes it)"
            )
        raise
    spec = manifest["spec"]
    print(f"Created work pool {args.name} ({spec['type']}) in namespace {pools.namespace}")
    return 0


@_pool_guarded
def work_pool_pause(args: argparse.Namespace) -> int:
    pools = _Pools(args)
    pools.patch_spec(args.name, {"paused": True})
    print(f"Paused work pool {args.name}: no run of it starts; due runs wait (PoolPaused)")
    return 0


@_pool_guarded
def work_pool_resume(args: argparse.Namespace) -> int:
    pools = _Pools(args)
    pools.patch_spec(args.name, {"paused": False})
    print(f"Resumed work pool {args.name}")
    return 0


@_pool_guarded
def work_pool_set_concurrency_limit(args: argparse.Namespace) -> int:
    pools = _Pools(args)
    pools.patch_spec(args.name, {"concurrencyLimit": args.limit})
    held = " (0 holds every run of the pool until raised or cleared)" if args.limit == 0 else ""
    print(f"Work pool {args.name}: at most {args.limit} runs at once{held}")
    return 0


@_pool_guarded
def work_pool_clear_concurrency_limit(args: argparse.Namespace) -> int:
    pools = _Pools(args)
    pools.patch_spec(args.name, {"concurrencyLimit": None})
    print(f"Work pool {args.name}: no concurrency limit")
    return 0


@_pool_guarded
def work_pool_delete(args: argparse.Namespace) -> int:
    pools = _Pools(args)
    users = pools.deployments_using(args.name)
    pools.rest.request("DELETE", f"{pools.collection}/{args.name}")
    print(f"Deleted work pool {args.name} from namespace {pools.namespace}")
    if users:
        print(
            f"warning: Deployments {', '.join(users)} name this pool; their runs wait "
            f"(AwaitingWorkPool) until it is created again"
        )
    return 0
