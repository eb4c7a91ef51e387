"""A run's work pool at decision time: read from the operator's indexes (memory, never an API
call per decision) and put to decisions/pool_admission.py.

Both the launch gate (a due run's supervisor, right before launching) and the Deployment's
scheduling pass (which holds and releases its due runs) ask here, after the Deployment's own
policy let the run go, so both agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kflow.resources import DeploymentSpec, FlowRunSpec, WorkPoolSpec
from kflow.resources.pools import run_pool
from pydantic import ValidationError

from kflow_operator.decisions.concurrency import StartVerdict, plan_due_runs
from kflow_operator.decisions.launch_plan import PoolView
from kflow_operator.decisions.pool_admission import (
    PoolDecision,
    PoolRun,
    PoolState,
    decide_pool_admission,
)
from kflow_operator.informers import deployment_ref
from kflow_operator.kubeapi import Body
from kflow_operator.scheduling.store import ScheduleApi
from kflow_operator.scheduling.views import deployment_run, run_policy


def pool_of(api: ScheduleApi, run: Mapping[str, Any]) -> str | None:
    """The run's pool (its own, else its Deployment's), its Deployment read from the index."""
    spec = run.get("spec") or {}
    own = run_pool(spec, None)
    if own is not None:
        return own
    ref = deployment_ref(run)
    if ref is None:
        return None
    deployment = api.get_deployment(run["metadata"]["namespace"], ref)
    return run_pool(spec, (deployment or {}).get("spec"))


def model_pool(run: FlowRunSpec, deployment: DeploymentSpec | None) -> str | None:
    """kflow.resources.pools.run_pool for parsed specs: the run's pool, else its
    Deployment's."""
    if run.work_pool is not None:
        return run.work_pool.name
    if deployment is not None and deployment.work_pool is not None:
        return deployment.work_pool.name
    return None


def pool_state(api: ScheduleApi, namespace: str, name: str) -> PoolState:
    spec = _pool_spec(api.get_pool(namespace, name))
    if spec is None:
        return PoolState(name, namespace, exists=False)
    return PoolState(name, namespace, True, spec.paused, spec.concurrency_limit)


def pool_view(api: ScheduleApi, namespace: str, name: str | None) -> PoolView | None:
    """What the launch merges in: the pool's spec (None: no pool, or none by that name)."""
    if name is None:
        return None
    spec = _pool_spec(api.get_pool(namespace, name))
    return PoolView(name, spec) if spec is not None else None


def _pool_spec(body: Body | None) -> WorkPoolSpec | None:
    if body is None:
        return None
    try:
        return WorkPoolSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        # The API server validates pools; one it let through that the models refuse is taken
        # as missing rather than half-read.
        return None


def pool_decision(
    api: ScheduleApi,
    namespace: str,
    pool: str,
    run: str,
    now: datetime,
    run_type: str | None = None,
) -> PoolDecision:
    """The pool's verdict on the due run `run` (its Deployment, if any, already let it go)."""
    state = pool_state(api, namespace, pool)
    if not state.exists or state.paused or state.concurrency_limit is None:
        return decide_pool_admission(run, state, [], now, run_type=run_type)
    runs = pool_runs(api, namespace, api.pool_runs(namespace, pool), now)
    return decide_pool_admission(run, state, runs, now, run_type=run_type)


def pool_runs(api: ScheduleApi, namespace: str, bodies: list[Body], now: datetime) -> list[PoolRun]:
    """The pool's runs; a due one is `eligible` when its own Deployment would start it now
    (decided per Deployment, once, on the Deployment's whole set of runs)."""
    starting: dict[str, frozenset[str]] = {}
    result = []
    for body in bodies:
        view = deployment_run(body)
        eligible = True
        ref = deployment_ref(body)
        if view.is_unstarted and view.due_at <= now and ref is not None:
            if ref not in starting:
                starting[ref] = _deployment_starts(api, namespace, ref, now)
            eligible = view.name in starting[ref]
        result.append(
            PoolRun(view.name, view.state_type, view.due_at, view.cancel_requested, eligible)
        )
    return result


def _deployment_starts(
    api: ScheduleApi, namespace: str, name: str, now: datetime
) -> frozenset[str]:
    deployment = api.get_deployment(namespace, name)
    if deployment is None:
        return frozenset()
    try:
        spec = DeploymentSpec.model_validate(deployment.get("spec") or {})
    except ValidationError:
        return frozenset()
    views = [deployment_run(body) for body in api.list_runs(namespace, name)]
    plan = plan_due_runs(views, run_policy(spec), now)
    return frozenset(n for n, d in plan.decisions.items() if d.verdict is StartVerdict.START)
