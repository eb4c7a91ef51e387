"""The Job launcher: creates, releases, watches, stops and sweeps one Job per attempt.

Exactly-once launching (launchers/base.py): the Job is created *suspended* under a name derived
from the attempt's launch key (a second `launch` finds the first Job: 409 is success); `release`
unsuspends it once the operator has recorded it. A Job whose operator died in between stays
suspended: `adopt` (only ever called for identifiers the FlowRun status names) unsuspends it,
and the sweeper deletes suspended Jobs that no FlowRun names.

Watches on Jobs and pods with our labels wake the run's supervisor within a second of
Kubernetes knowing, and keep the last state of deleted pods for `observe` (observe.py decides
what they mean).

Cancellation: `stop` marks the Job and its pods as stopped by kflow, deletes the pods with the
run's grace period and the Job with foreground propagation; `kill` force-deletes what is left.
The run counts as gone only when no pod of it is left.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

from kflow.resources import FLOWRUN_KIND, InfrastructureType

from kflow_operator.identifiers import InfrastructureId
from kflow_operator.infrastructure import Launched, LaunchRequest, Observation
from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.clients import ClientFactory
from kflow_operator.kubeapi.cluster_identity import cluster_identity
from kflow_operator.kubeapi.errors import Refused
from kflow_operator.kubeapi.jobs import JobsApi
from kflow_operator.kubeapi.list_watch import Change, ListWatch
from kflow_operator.launchers.background import Wakes, Workers
from kflow_operator.launchers.base import FlowRunReader, Launcher, LaunchError, Wake
from kflow_operator.launchers.flow_account import FLOW_SERVICE_ACCOUNT, FlowAccounts
from kflow_operator.launchers.kubernetes_job.manifest import custom_service_account, job_manifest
from kflow_operator.launchers.kubernetes_job.names import (
    FLOW_CONTAINER,
    JOB_UID_LABEL,
    OWN_SELECTOR,
    STOP_ANNOTATION,
    JobId,
    format_job_id,
)
from kflow_operator.launchers.kubernetes_job.observe import (
    observation_of_job,
    pod_left_running,
    should_delete_unrecorded,
    stop_requested,
    with_deleted_pods,
)
from kflow_operator.launchers.kubernetes_job.options import JobLauncherOptions
from kflow_operator.launchers.kubernetes_job.start_waits import FAILED_CREATE, slow_to_start
from kflow_operator.launchers.ownership import belongs, not_the_runs

logger = logging.getLogger(__name__)


class KubernetesJobLauncher(Launcher):
    type = InfrastructureType.KUBERNETES_JOB

    def __init__(
        self,
        options: JobLauncherOptions,
        read_flow_run: FlowRunReader | None = None,
        clients: ClientFactory | None = None,
    ) -> None:
        self._options = options
        self._read_flow_run = read_flow_run
        self._jobs = JobsApi(clients)
        self._scope = cluster_identity(self._jobs.clients())
        self.accounts = FlowAccounts(self._jobs.clients, manage=options.manage_service_accounts)
        self._lock = threading.Lock()
        self._wakes = Wakes()
        self._deleted_pods: dict[str, dict[str, Body]] = {}
        self._stopping: set[str] = set()
        self._workers = Workers("kflow-job")
        self._watches: list[ListWatch] = []
        for namespace in options.namespaces or (None,):
            for kind in ("pods", "jobs"):
                watch = ListWatch(
                    f"{kind} of kflow Jobs in {namespace or 'all namespaces'}",
                    self._jobs.lister(kind, namespace),
                    OWN_SELECTOR,
                    functools.partial(self._on_change, kind),
                    self._workers.closed,
                    resource=kind,
                )
                self._watches.append(watch)
                self._workers.run(f"watch-{kind}-{namespace or 'all'}", watch.run)
        if read_flow_run is not None:
            self._workers.every("sweeper", options.sweep_seconds, self.sweep, "sweeping kflow Jobs")

    @property
    def scope(self) -> str:
        return self._scope

    # --- launching ----------------------------------------------------------------------------

    def launch(self, request: LaunchRequest) -> Launched:
        custom_account = custom_service_account(request.infrastructure.job)
        account = None if custom_account else FLOW_SERVICE_ACCOUNT
        if account is not None:
            self.accounts.ensure(request.namespace)
        manifest = job_manifest(request, account)
        try:
            uid = self._jobs.create_job(request.namespace, manifest)
        except Refused as error:
            raise LaunchError(
                f"Kubernetes refused the Job for this run: {error.message}; "
                "check spec.infrastructure (image, job.podTemplatePatch)"
            ) from error
        ident = format_job_id(request.namespace, manifest["metadata"]["name"], uid)
        return Launched(InfrastructureId(self.type.value, self._scope, ident))

    def release(self, launched: Launched) -> None:
        self._jobs.unsuspend(JobId.parse(launched.identifier.id))

    def discard(self, launched: Launched) -> None:
        job = JobId.parse(launched.identifier.id)
        self._jobs.delete_job(job, propagation="Background", grace=0)

    # --- watching -----------------------------------------------------------------------------

    def observe(self, identifier: InfrastructureId) -> Observation:
        job_id = JobId.parse(identifier.id)
        job = self._jobs.read_job(job_id)
        if job is not None and not belongs(_labels(job), identifier.owner):
            return not_the_runs(f"Job {job_id.namespace}/{job_id.name}")
        uid = job_id.uid or ((job or {}).get("metadata") or {}).get("uid")
        pods = self._run_pods(job_id.namespace, uid, identifier.owner) if uid else []
        with self._lock:
            remembered = list(self._deleted_pods.get(uid or "", {}).values())
            stopping = (uid or "") in self._stopping
        now = datetime.now(UTC)
        failed_creates = (
            self._jobs.events_of(job_id.namespace, uid, f"reason={FAILED_CREATE}")
            if job is not None and uid and not pods and not remembered and _released(job)
            else []
        )
        pod_warnings = {
            str(pod["metadata"]["name"]): self._jobs.events_of(
                job_id.namespace, str(pod["metadata"].get("uid")), "type=Warning"
            )
            for pod in pods
            if slow_to_start(pod, FLOW_CONTAINER, now)
        }
        return observation_of_job(
            job,
            with_deleted_pods(pods, remembered),
            now,
            stopping=stopping,
            image_deadline_seconds=self._options.image_pull_deadline_seconds,
            failed_creates=failed_creates,
            pod_warnings=pod_warnings,
            job_ref=f"Job {job_id.namespace}/{job_id.name}",
        )

    def adopt(self, identifier: InfrastructureId, wake: Wake) -> None:
        job_id = JobId.parse(identifier.id)
        self._wakes.add(job_id.uid or job_id.name, wake)
        job = self._jobs.read_job(job_id)
        if job is None:
            wake()
        elif not belongs(_labels(job), identifier.owner):
            # Someone else's: never released, nor watched for this run; observe() says so.
            self._wakes.remove(job_id.uid or job_id.name, wake)
            wake()
        elif (job.get("spec") or {}).get("suspend") and not stop_requested(job):
            # Recorded (the status names it) but never released: its operator died in between.
            self._jobs.unsuspend(job_id)

    def forget(self, identifier: InfrastructureId) -> None:
        job_id = JobId.parse(identifier.id)
        if self._foreign(job_id, identifier.owner, "forgetting"):
            return  # never adopted for this run: nothing of it to drop
        key = job_id.uid or job_id.name
        self._wakes.discard(key)
        with self._lock:
            self._deleted_pods.pop(key, None)
            self._stopping.discard(key)
        if job_id.uid and any(
            pod_left_running(pod)
            for pod in self._run_pods(job_id.namespace, job_id.uid, identifier.owner)
        ):
            # Finished with, yet a pod is still there and not done (stuck pulling its image,
            # say): no leftovers. Finished pods stay for their logs, until the FlowRun goes.
            self._jobs.delete_job(job_id, propagation="Background", grace=0)

    def _run_pods(self, namespace: str, job_uid: str, owner: str | None) -> list[Body]:
        """The pods of the Job with `job_uid` that are the run `owner`'s (all, for None)."""
        pods = self._jobs.pods(namespace, f"{JOB_UID_LABEL}={job_uid}")
        return [pod for pod in pods if belongs(_labels(pod), owner)]

    def _foreign(self, job_id: JobId, owner: str | None, doing: str) -> bool:
        return owner is not None and self._read_checked(job_id, owner, doing)[0]

    def _read_checked(
        self, job_id: JobId, owner: str | None, doing: str
    ) -> tuple[bool, Body | None]:
        """(whether the Job exists and is not the run `owner`'s, the Job as read). A foreign
        Job is logged and left alone; a gone one is nobody's to protect (its pods are checked
        one by one)."""
        job = self._jobs.read_job(job_id)
        if job is None or belongs(_labels(job), owner):
            return False, job
        logger.warning(
            "not %s Job %s/%s: it is not FlowRun %s's (the identifier in the run's status was "
            "changed)",
            doing,
            job_id.namespace,
            job_id.name,
            owner,
        )
        return True, job

    def _on_change(self, kind: str, change: Change) -> None:
        """Wake the run a Job or pod belongs to; keep the last state of its deleted pods."""
        obj = change.object
        meta = obj.get("metadata") or {}
        if kind == "pods":
            key = str((meta.get("labels") or {}).get(JOB_UID_LABEL) or "")
            if change.type == "DELETED" and key in self._wakes:
                final = {**obj, "metadata": {**meta, "deleted": True}}
                with self._lock:
                    self._deleted_pods.setdefault(key, {})[str(meta.get("name"))] = final
        else:
            key = str(meta.get("uid") or "")
        self._wakes.wake(key)

    # --- stopping -----------------------------------------------------------------------------

    def stop(self, identifier: InfrastructureId, grace_seconds: int) -> None:
        """Mark, then delete the pods with the grace period (their own spec may say another)
        and the Job with foreground propagation, so the Job object stays until no pod is left."""
        job_id = JobId.parse(identifier.id)
        foreign, job = self._read_checked(job_id, identifier.owner, "stopping")
        if foreign:
            return
        with self._lock:
            self._stopping.add(job_id.uid or job_id.name)
        mark = {"metadata": {"annotations": {STOP_ANNOTATION: datetime.now(UTC).isoformat()}}}
        if job is not None:  # marked by name: a later Job of that name is not this one
            self._jobs.mark_job(job_id, mark)
        owner = identifier.owner
        for pod in self._run_pods(job_id.namespace, job_id.uid, owner) if job_id.uid else []:
            self._jobs.mark_and_delete_pod(
                job_id.namespace, pod["metadata"]["name"], mark, grace_seconds
            )
        self._jobs.delete_job(job_id, propagation="Foreground", grace=grace_seconds)

    def kill(self, identifier: InfrastructureId) -> None:
        """Force-delete every pod of the Job that is left (grace 0), and the Job."""
        job_id = JobId.parse(identifier.id)
        if self._foreign(job_id, identifier.owner, "killing"):
            return
        with self._lock:
            self._stopping.add(job_id.uid or job_id.name)
        owner = identifier.owner
        for pod in self._run_pods(job_id.namespace, job_id.uid, owner) if job_id.uid else []:
            self._jobs.delete_pod(job_id.namespace, pod["metadata"]["name"], grace=0)
        self._jobs.delete_job(job_id, propagation="Foreground", grace=0)

    # --- sweeping -----------------------------------------------------------------------------

    def sweep(self) -> list[str]:
        """Delete suspended Jobs no FlowRun names (launches whose record never landed)."""
        assert self._read_flow_run is not None
        removed = []
        for namespace in self._options.namespaces or (None,):
            for job in self._jobs.jobs(namespace, OWN_SELECTOR):
                meta = job["metadata"]
                owner = next(
                    (o for o in meta.get("ownerReferences") or [] if o.get("kind") == FLOWRUN_KIND),
                    None,
                )
                if owner is None:
                    continue
                job_id = format_job_id(meta["namespace"], meta["name"], meta["uid"])
                flow_run = self._read_flow_run(meta["namespace"], owner["name"])
                if should_delete_unrecorded(job, flow_run, job_id, datetime.now(UTC)):
                    logger.info("deleting Job %s: launched but never recorded", job_id)
                    self._jobs.delete_job(JobId.parse(job_id), propagation="Background", grace=0)
                    removed.append(job_id)
        return removed

    def close(self) -> None:
        self._workers.closed.set()
        for watch in self._watches:
            watch.stop()
        self._workers.close()


def _labels(obj: Body) -> Mapping[str, str]:
    return cast(Mapping[str, str], (obj.get("metadata") or {}).get("labels") or {})


def _released(job: Body) -> bool:
    """Unsuspended and not finished: a Job that should have a pod."""
    conditions = (job.get("status") or {}).get("conditions") or []
    finished = any(c.get("status") == "True" for c in conditions)
    return not (job.get("spec") or {}).get("suspend") and not finished
