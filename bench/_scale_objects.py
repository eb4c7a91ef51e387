"""The scale benchmark's objects: paused Deployments the operator holds, FlowRuns that each
settle FAILED with one status write (their Deployment does not exist), WorkPools, and the
finalizers taken off before the namespace goes. Shared by bench.scale and bench.scale_replicas.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes.client.exceptions import ApiException

from bench._cluster import GROUP, VERSION, Api, create, progress

MISSING_DEPLOYMENT = "no-such-deployment"
CREATE_THREADS = 16


def create_deployments(api: Api, namespace: str, count: int, pools: Sequence[str] = ()) -> None:
    """`count` paused Deployments with a schedule (the operator holds them, creates nothing);
    with `pools`, Deployment i is in pools[i % len(pools)]."""

    def one(index: int) -> None:
        spec: dict[str, Any] = {
            "entrypoint": "flows.py:idle",
            "infrastructure": {"type": "process"},
            "paused": True,
            "schedules": [{"interval": 60}],
        }
        if pools:
            spec["workPool"] = {"name": pools[index % len(pools)]}
        create(api, namespace, "Deployment", f"held-{index:04d}", spec)

    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(one, range(count)))


def create_pools(api: Api, namespace: str, pools: Sequence[str]) -> None:
    """A `process` WorkPool of each name."""
    for name in pools:
        create(api, namespace, "WorkPool", name, {"type": "process"})


def missing_deployment_run(index: int) -> dict[str, Any]:
    """The spec of a FlowRun of a Deployment that does not exist: it settles FAILED."""
    return {"deploymentRef": {"name": MISSING_DEPLOYMENT}}


def create_runs(
    api: Api,
    namespace: str,
    count: int,
    budget: float,
    spec_of: Callable[[int], dict[str, Any]] = missing_deployment_run,
) -> float:
    """Create FlowRuns run-00000 … with `spec_of(index)` as their spec; the seconds it took."""
    started = time.monotonic()

    def one(index: int) -> None:
        if time.monotonic() - started > budget:
            raise TimeoutError(f"creating {count} FlowRuns took over {budget:.0f} s")
        create(api, namespace, "FlowRun", f"run-{index:05d}", spec_of(index))

    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        for done, _ in enumerate(pool.map(one, range(count)), start=1):
            if done % 1000 == 0:
                progress(f"{done}/{count} FlowRuns created")
    return time.monotonic() - started


def drop_all_finalizers(api: Api, namespace: str) -> None:
    """In parallel (the shared helper patches one object after another: minutes at 50,000)."""
    for plural in ("flowruns", "deployments", "workpools"):
        listed: Any = api.objects.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
        names = [i["metadata"]["name"] for i in listed["items"] if i["metadata"].get("finalizers")]

        def drop(name: str, plural: str = plural) -> None:
            with contextlib.suppress(ApiException):  # gone already
                api.objects.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name, {"metadata": {"finalizers": None}}
                )

        with ThreadPoolExecutor(CREATE_THREADS) as pool:
            list(pool.map(drop, names))
