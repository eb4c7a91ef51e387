"""The launch gate: right before a FlowRun's supervisor launches a due run, it asks
`admit_launch` (installed as `OperatorContext.admission`), which applies catch-up, the starting
deadline, the Deployment's pause and its concurrency policy, then the run's work pool (missing,
paused, its concurrencyLimit: scheduling/pool_gate.py). Both must let the run go.

It only reads and decides; the supervisor carries out what it answers, like any other action:
None launches now; `ReplaceOthers` asks older runs to cancel, then launches; `HoldForSlot`
and `Skip` write the run's state instead of launching it.
"""

from __future__ import annotations

from datetime import datetime

from kflow.resources import DeploymentSpec
from kflow.states import StateType

from kflow_operator.decisions.actions import Action, HoldForSlot, ReplaceOthers, Skip
from kflow_operator.decisions.catchup import deadline_of, is_missed
from kflow_operator.decisions.concurrency import StartVerdict, decide_run
from kflow_operator.decisions.deployment_runs import ConcurrencyPolicy, DeploymentRun
from kflow_operator.decisions.events import replaced_event
from kflow_operator.decisions.pool_admission import PoolVerdict
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.scheduling.pool_gate import model_pool, pool_decision
from kflow_operator.scheduling.run_bodies import is_schedule_run_name
from kflow_operator.scheduling.store import ScheduleApi
from kflow_operator.scheduling.views import deployment_run, run_policy


def admit_launch(
    api: ScheduleApi, run: SupervisedRun, deployment: DeploymentSpec | None, at: datetime
) -> Action | None:
    """None lets the due run launch now; else what happens instead: the Deployment's verdict
    first, then the pool's (a pool hold is a HoldForSlot with the pool's state name)."""
    admitted = _deployment_admission(api, run, deployment, at)
    if admitted is not None and not isinstance(admitted, ReplaceOthers):
        return admitted
    pool = model_pool(run.spec, deployment)
    if pool is None:
        return admitted
    run_type = _run_type(run, deployment)
    decision = pool_decision(api, run.namespace, pool, run.name, at, run_type)
    if decision.verdict is PoolVerdict.ADMIT:
        return admitted
    own = api.get_run(run.namespace, run.name)
    if own is None:
        return None
    return HoldForSlot(decision.message, own, decision.state_name)


def _run_type(run: SupervisedRun, deployment: DeploymentSpec | None) -> str | None:
    for infrastructure in (
        run.spec.infrastructure,
        deployment.infrastructure if deployment else None,
    ):
        if infrastructure is not None and infrastructure.type is not None:
            return infrastructure.type.value
    return None


def _deployment_admission(
    api: ScheduleApi, run: SupervisedRun, deployment: DeploymentSpec | None, at: datetime
) -> Action | None:
    """The Deployment's verdict on its due run: None lets it go.

    Runs of an Allow Deployment without a limit are decided without looking at any other run;
    the others read the Deployment's runs from the operator's index (blocking while its first
    listing is not in: the supervisor calls this from a worker thread).
    """
    ref = run.spec.deployment_ref
    if ref is None or deployment is None:
        return None
    policy = run_policy(deployment)
    scheduled_time = run.spec.scheduled_time
    from_schedule = is_schedule_run_name(run.name, ref.name, scheduled_time)
    if (
        policy.concurrency_policy is ConcurrencyPolicy.ALLOW
        and policy.concurrency_limit is None
        and (not from_schedule or _on_time(run, from_schedule, deployment, at))
    ):
        return None

    runs = api.list_runs(run.namespace, ref.name)
    bodies = {b["metadata"]["name"]: b for b in runs}
    own = bodies.get(run.name) or api.get_run(run.namespace, run.name)
    if own is None:
        return None
    bodies[run.name] = own
    views = [deployment_run(b) for b in bodies.values()]
    decision = decide_run(run.name, views, policy, at)
    if decision.verdict is StartVerdict.START:
        if not decision.cancel:
            return None
        events = tuple(
            replaced_event(bodies[other], run.name) for other in decision.cancel if other in bodies
        )
        return ReplaceOthers(decision.cancel, events)
    if decision.verdict is StartVerdict.WAIT:
        return HoldForSlot(decision.message, own)
    if decision.verdict is StartVerdict.SKIP:
        return Skip(decision.message, own)
    return None


def _on_time(run: SupervisedRun, from_schedule: bool, spec: DeploymentSpec, at: datetime) -> bool:
    """Whether a scheduled run may start without looking at its siblings."""
    if spec.paused:
        return False
    due = run.spec.scheduled_time or at
    view = DeploymentRun(
        name=run.name,
        state_type=run.state_type or StateType.SCHEDULED,
        state_name=run.status.state.name if run.status.state else "Scheduled",
        created=due,
        scheduled_time=due,
        from_schedule=from_schedule,
    )
    policy = run_policy(spec)
    deadline = deadline_of(view, policy)
    return not is_missed(view, policy, at) and (deadline is None or at <= deadline)
