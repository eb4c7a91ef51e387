"""This operator as a worker of WorkPools: one loop per pool of the served namespaces, run by
handlers/workpools.py while this replica is the active one of its peering.

Each pass (every --worker-heartbeat-seconds) reads the pool and its runs from memory (the
FlowRun and Deployment indexes), asks decisions/pool_status.py what the status should say,
and writes only what differs — except the heartbeat, the one periodic write, made only for a
pool this operator serves. status.workers is one list every worker of the pool writes, so it is
written whole at the resourceVersion it was read at; on a conflict the pool is read again and
the pass redone, and no other worker's entry is ever lost. An operator that does not serve the
pool writes its status only while no worker is live: then it says so on the pool and on the
pool's due runs (SCHEDULED `AwaitingWorker`), which it never launches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import kopf
from kflow.resources import format_timestamp, parse_timestamp
from kflow.resources.pools import run_pool
from kflow.states import StateType

from kflow_operator import events
from kflow_operator.decisions import pool_status
from kflow_operator.decisions.pool_status import (
    AWAITING_WORKER_NAME,
    PoolFacts,
    PoolRun,
    Worker,
    WorkerTiming,
)
from kflow_operator.kubeapi import Body
from kflow_operator.object_index import is_newer
from kflow_operator.operator_context import OperatorContext
from kflow_operator.scheduling.run_states import write_run_state

logger = logging.getLogger(__name__)

CONFLICT_ATTEMPTS = 5
"""Reads and writes of one pass before it gives up until the next (other workers keep
writing the same list; five losses in a row means something else is wrong)."""


def now() -> datetime:
    return datetime.now(UTC)


def kflow_version() -> str | None:
    try:
        return version("kflow")
    except PackageNotFoundError:
        return None


def timing_of(context: OperatorContext) -> WorkerTiming:
    settings = context.settings
    return WorkerTiming(
        heartbeat=timedelta(seconds=settings.worker_heartbeat_seconds),
        timeout=timedelta(seconds=settings.worker_timeout_seconds),
    )


def pool_facts(body: Mapping[str, Any]) -> PoolFacts:
    meta = body["metadata"]
    beat = (body.get("status") or {}).get("lastHeartbeatTime")
    return PoolFacts(
        namespace=str(meta["namespace"]),
        name=str(meta["name"]),
        created=parse_timestamp(str(meta["creationTimestamp"])),
        generation=meta.get("generation"),
        paused=bool((body.get("spec") or {}).get("paused")),
        workers=tuple(pool_status.workers_of(body.get("status") or {})),
        last_heartbeat=parse_timestamp(str(beat)) if beat else None,
    )


def pool_run(body: Mapping[str, Any]) -> PoolRun:
    meta = body["metadata"]
    spec = body.get("spec") or {}
    state = (body.get("status") or {}).get("state") or {}
    scheduled = spec.get("scheduledTime") or meta["creationTimestamp"]
    return PoolRun(
        name=str(meta["name"]),
        state_type=StateType(state.get("type", StateType.SCHEDULED.value)),
        state_name=state.get("name"),
        state_message=state.get("message"),
        due_at=parse_timestamp(str(scheduled)),
        cancel_requested=bool(spec.get("cancel")),
    )


class PoolWorker:
    """The status of one WorkPool, as this operator keeps it."""

    def __init__(self, context: OperatorContext, body: Mapping[str, Any], identity: str) -> None:
        self.context = context
        self.namespace = str(body["metadata"]["namespace"])
        self.name = str(body["metadata"]["name"])
        self.identity = identity
        self.serving = context.settings.serves_pool(self.name)
        self.timing = timing_of(context)
        self.latest: Body | None = dict(body)

    # --- the loop -----------------------------------------------------------------------------

    async def run(self, stopped: kopf.DaemonStopped, live_body: Mapping[str, Any]) -> None:
        try:
            while not stopped:
                self.see(live_body)
                try:
                    await asyncio.to_thread(self.one_pass, now())
                except Exception:
                    logger.exception(
                        "Status pass of WorkPool %s/%s failed", self.namespace, self.name
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopped.wait(), self.timing.heartbeat.total_seconds())
        finally:
            reason = stopped.reason
            deleted = reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in reason
            if self.serving and not deleted:
                # Shielded: Kopf may cancel a stopping daemon, and an entry left behind would
                # count as a live worker for a whole timeout.
                await asyncio.shield(asyncio.to_thread(self.leave))

    def see(self, body: Mapping[str, Any]) -> None:
        """A version of the pool from the watch; kept when newer than the one held."""
        version_of = (body.get("metadata") or {}).get("resourceVersion")
        held = (self.latest or {}).get("metadata", {}).get("resourceVersion")
        if self.latest is None or is_newer(version_of, held):
            self.latest = dict(body)

    # --- one pass (blocking: runs in a worker thread) -----------------------------------------

    def one_pass(self, moment: datetime) -> None:
        for _ in range(CONFLICT_ATTEMPTS):
            pool = self.latest or self.context.api.get_workpool(self.namespace, self.name)
            if pool is None:
                return
            written, facts, runs = self._write_status(pool, moment)
            if written:
                if runs is not None:
                    self._mark_awaiting_worker(facts, runs, moment)
                return
            self.latest = None
        logger.warning(
            "WorkPool %s/%s: status not written, it kept changing (%d tries)",
            self.namespace,
            self.name,
            CONFLICT_ATTEMPTS,
        )

    def _write_status(
        self, pool: Body, moment: datetime
    ) -> tuple[bool, PoolFacts, list[PoolRun] | None]:
        """(written or nothing to write, the pool as decided on, its runs when known); False
        when the pool moved since it was read."""
        status = pool.get("status") or {}
        facts = pool_facts(pool)
        patch: dict[str, Any] = {}
        if self.serving:
            own = Worker(self.identity, moment, self.context.started_at, kflow_version())
            workers = pool_status.with_heartbeat(facts.workers, own, self.timing, moment)
            patch["workers"] = [worker.to_status() for worker in workers]
            patch["lastHeartbeatTime"] = format_timestamp(moment)
            facts = replace(facts, workers=tuple(workers), last_heartbeat=moment)
        runs = self._runs()
        if runs is not None and (
            self.serving or not pool_status.live(facts.workers, self.timing, moment)
        ):
            wanted = pool_status.summary(facts, status, runs, self.timing, moment)
            patch.update(pool_status.changed_fields(status, wanted))
        if not patch:
            return True, facts, runs
        written = self.context.api.patch_workpool_status(
            self.namespace, self.name, patch, pool["metadata"]["resourceVersion"]
        )
        if written is None:
            return False, facts, runs
        self.latest = written
        return True, facts, runs

    def _runs(self) -> list[PoolRun] | None:
        """The pool's runs from memory; None until the first listing is in."""
        informers = self.context.informers
        if informers is None or not (informers.flowruns.ready and informers.deployments.ready):
            return None
        runs = []
        for body in informers.flowruns.in_namespace(self.namespace):
            spec = body.get("spec") or {}
            deployment_name = (spec.get("deploymentRef") or {}).get("name")
            deployment = (
                informers.deployments.get(self.namespace, deployment_name)
                if deployment_name
                else None
            )
            if run_pool(spec, (deployment or {}).get("spec")) == self.name:
                runs.append(pool_run(body))
        return runs

    def _mark_awaiting_worker(
        self, facts: PoolFacts, runs: list[PoolRun], moment: datetime
    ) -> None:
        message, waiting = pool_status.awaiting_worker(facts, runs, self.timing, moment)
        informers = self.context.informers
        for run in waiting:
            body = informers.flowruns.get(self.namespace, run.name) if informers else None
            if body is None:
                continue
            written = write_run_state(
                self.context.schedules,
                body,
                StateType.SCHEDULED,
                AWAITING_WORKER_NAME,
                message,
                moment,
            )
            if written is not None:
                events.warning(written, AWAITING_WORKER_NAME, message)
                logger.info(
                    "FlowRun %s/%s: %s: %s", self.namespace, run.name, AWAITING_WORKER_NAME, message
                )

    def leave(self) -> None:
        """Take this operator's entry out of the pool's workers (it stops serving it)."""
        for _ in range(CONFLICT_ATTEMPTS):
            pool = self.context.api.get_workpool(self.namespace, self.name)
            if pool is None:
                return
            status = pool.get("status") or {}
            remaining = pool_status.without(pool_status.workers_of(status), self.identity)
            if remaining is None:
                return
            facts = replace(pool_facts(pool), workers=tuple(remaining))
            patch: dict[str, Any] = {"workers": [worker.to_status() for worker in remaining]}
            runs = self._runs()
            if runs is not None:
                wanted = pool_status.summary(facts, status, runs, self.timing, now())
                patch.update(pool_status.changed_fields(status, wanted))
            written = self.context.api.patch_workpool_status(
                self.namespace, self.name, patch, pool["metadata"]["resourceVersion"]
            )
            if written is not None:
                logger.info(
                    "WorkPool %s/%s: worker %s left", self.namespace, self.name, self.identity
                )
                return
