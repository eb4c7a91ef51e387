"""A supervisor's notifications: at each turn of its loop, every due delivery of the run is
attempted and its record written to the run's status before the supervisor moves on
(notifications/planning.py says what is due; docs/notifications.md the guarantees).

Sends run in worker threads, one after the other; a record is written at the resourceVersion it
was built on, and on a conflict rebuilt on the fresh run, never re-decided: a delivery that was
sent is recorded as sent whatever else changed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kflow.resources import DeploymentSpec, WorkPoolSpec
from kflow.resources.notifications import DeliveryPhase, NotificationRecord
from kflow.resources.pools import run_pool
from kflow.resources.status_patch import notifications_patch
from pydantic import ValidationError

from kflow_operator import events
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.kubeapi import Body
from kflow_operator.notifications.payloads import RunFacts
from kflow_operator.notifications.planning import (
    Delivery,
    NotificationPlan,
    RetryPolicy,
    attempt_event,
    attempted,
    plan_notifications,
    with_record,
)
from kflow_operator.notifications.sending import deliver
from kflow_operator.notifications.targets import Target, run_targets
from kflow_operator.notifications.transitions import run_transitions

if TYPE_CHECKING:
    from kflow_operator.supervision.supervisor import Supervisor

logger = logging.getLogger(__name__)

RECORD_WRITE_TRIES = 10
NOTHING = NotificationPlan()


@dataclass(frozen=True)
class Sources:
    """The objects whose spec.notifications apply to a run, read once per turn."""

    deployment: Body | None
    pool: Body | None


def _now() -> datetime:
    return datetime.now(UTC)


def _policy(supervisor: Supervisor) -> RetryPolicy:
    return RetryPolicy(
        window=timedelta(seconds=supervisor.context.settings.notification_retry_seconds)
    )


class Notifier:
    """The notifications of the run one supervisor handles."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.settled_until: datetime | None = None
        """Transitions up to this time have all been delivered or given up on (this process
        need not look at them again, nor read the targets for them)."""

    async def turn(self, run: SupervisedRun) -> NotificationPlan:
        """Attempt the run's due deliveries, each recorded before the next; what still waits."""
        supervisor = self.supervisor
        if not supervisor.context.settings.notifications or not self._may_notify(run):
            return NOTHING
        policy = _policy(supervisor)
        try:
            targets, sources = await _targets(supervisor, run)
        except Exception as unread:
            return _unread(run, unread, policy)
        plan = plan_notifications(
            run_transitions(run.status), run.status.notifications or [], targets, _now(), policy
        )
        for delivery in plan.due:
            facts = _facts(supervisor, run, delivery, sources)
            error = await asyncio.to_thread(
                deliver, delivery.target, facts, supervisor.context.notification_reads.secret
            )
            record = attempted(delivery, error, _now(), policy)
            _announce(supervisor, run, record, policy)
            if not await _record(supervisor, record):
                return NOTHING
        if plan.due:
            fresh = SupervisedRun.from_body(supervisor.body)
            plan = plan_notifications(
                run_transitions(fresh.status),
                fresh.status.notifications or [],
                targets,
                _now(),
                policy,
            )
        if not plan.outstanding:
            self.settled_until = max(
                (t.timestamp for t in run_transitions(run.status)), default=self.settled_until
            )
        return plan

    def _may_notify(self, run: SupervisedRun) -> bool:
        """Cheap: a delivery still pending, or a state some target could want that this
        process has not settled yet."""
        if any(r.phase is DeliveryPhase.PENDING for r in run.status.notifications or []):
            return True
        since = self.settled_until
        return any(
            t.notifiable and (since is None or t.timestamp > since)
            for t in run_transitions(run.status)
        )


def _unread(run: SupervisedRun, error: Exception, policy: RetryPolicy) -> NotificationPlan:
    """The run's Deployment or pool could not be read: try again shortly, for as long as a
    transition is inside the retry window."""
    newest = max((t.timestamp for t in run_transitions(run.status)), default=None)
    if newest is None or _now() - newest > policy.window:
        return NOTHING
    logger.warning(
        "FlowRun %s/%s: could not read what its notifications are (%s: %s); trying again",
        run.namespace,
        run.name,
        type(error).__name__,
        error,
    )
    return NotificationPlan(next_attempt=_now() + policy.first_delay)


async def _targets(supervisor: Supervisor, run: SupervisedRun) -> tuple[list[Target], Sources]:
    deployment: Body | None = None
    ref = run.spec.deployment_ref
    if ref is not None:
        deployment = supervisor.context.indexed_deployment(run.namespace, ref.name)
        if deployment is None:
            deployment = await asyncio.to_thread(
                supervisor.context.api.get_deployment, run.namespace, ref.name
            )
    deployment_spec = _parsed(DeploymentSpec, deployment)
    pool: Body | None = None
    if deployment_spec is None or deployment_spec.notifications is None:
        run_spec = (supervisor.body.get("spec") or {}) if supervisor.body else {}
        name = run_pool(run_spec, (deployment or {}).get("spec"))
        if name is not None:
            reads = supervisor.context.notification_reads
            pool = await asyncio.to_thread(reads.workpool, run.namespace, name)
    targets = run_targets(deployment_spec, _parsed(WorkPoolSpec, pool))
    return targets, Sources(deployment, pool)


def _parsed(model: type[DeploymentSpec] | type[WorkPoolSpec], body: Body | None) -> Any:
    if body is None:
        return None
    try:
        return model.model_validate(body.get("spec") or {})
    except ValidationError:
        # The API server validated it; a spec this operator does not understand is a newer one.
        logger.warning(
            "%s has a spec this operator cannot read; its notifications are skipped",
            (body.get("metadata") or {}).get("name"),
        )
        return None


def _facts(
    supervisor: Supervisor, run: SupervisedRun, delivery: Delivery, sources: Sources
) -> RunFacts:
    deployment_spec = (sources.deployment or {}).get("spec") or {}
    parameters = {**(deployment_spec.get("parameters") or {}), **(run.spec.parameters or {})}
    status = run.status
    return RunFacts(
        namespace=run.namespace,
        name=run.name,
        uid=run.uid,
        transition=delivery.transition,
        run_name=status.run_name,
        flow_name=status.flow_name,
        deployment=run.spec.deployment_ref.name if run.spec.deployment_ref else None,
        work_pool=run_pool(supervisor.body.get("spec") or {}, deployment_spec),
        scheduled_time=run.spec.scheduled_time,
        start_time=status.start_time,
        end_time=status.end_time,
        parameters=parameters,
        dashboard_url=supervisor.context.settings.dashboard_url,
    )


def _announce(
    supervisor: Supervisor, run: SupervisedRun, record: NotificationRecord, policy: RetryPolicy
) -> None:
    ref = {"namespace": run.namespace, "name": run.name, "uid": run.uid}
    what = f"notification {record.target} of {record.state_name} ({record.state})"
    if record.phase is DeliveryPhase.SENT:
        logger.info("FlowRun %s/%s: %s sent", run.namespace, run.name, what, extra={"k8s_ref": ref})
    else:
        logger.warning(
            "FlowRun %s/%s: %s failed (attempt %d, %s): %s",
            run.namespace,
            run.name,
            what,
            record.attempts,
            "gave up" if record.phase is DeliveryPhase.GAVE_UP else "will retry",
            record.last_error,
            extra={"k8s_ref": ref},
        )
    event = attempt_event(record, policy)
    if event is not None:
        events.post(event, supervisor.body)


async def _record(supervisor: Supervisor, record: NotificationRecord) -> bool:
    """Write `record` into the run's status; False when the run is gone."""
    api = supervisor.context.api
    for _ in range(RECORD_WRITE_TRIES):
        run = SupervisedRun.from_body(supervisor.body)
        records = with_record(run.status.notifications or [], record)
        written = await asyncio.to_thread(
            api.patch_flowrun_status,
            run.namespace,
            run.name,
            notifications_patch(records),
            run.resource_version,
        )
        if written is not None:
            supervisor.body = written
            return True
        if not await supervisor.refresh():
            return False
    raise RuntimeError(
        f"FlowRun {supervisor.body['metadata']['name']}: the notification record could not be "
        f"written in {RECORD_WRITE_TRIES} tries (the run kept changing)"
    )
