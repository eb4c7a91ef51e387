"""Jobs and their pods, read as raw JSON: the calls the Job launcher makes.

Every call blocks; the launcher makes them from the operator's worker threads and its own. What
a 404 or a 409 means is settled here: a gone Job or pod is fine to mark, stop or delete, and a
Job name already taken is the caller's own earlier create (it names Jobs deterministically).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Protocol, cast

from kubernetes import client

from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.clients import ClientFactory, ThreadClients
from kflow_operator.kubeapi.errors import (
    CONFLICT,
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    none_on,
    refused_on,
    unless_missing,
)
from kflow_operator.kubeapi.list_watch import Lister

READ_TIMEOUT = (10.0, 30.0)
"""(connect, read) seconds for the reads a run's supervisor makes on every look: a connection
that hangs must fail (and be retried) rather than leave the run unsupervised."""


class JobRef(Protocol):
    """One Job: its UID, when known, tells it from a later Job of the same name."""

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def uid(self) -> str | None: ...


class JobsApi:
    def __init__(self, clients: ClientFactory | None = None) -> None:
        self.clients: ClientFactory = clients or ThreadClients()
        """This thread's API client (for the other APIs the Job launcher uses)."""

    # The generated clients are typed for their model classes; these calls send plain
    # manifests and read raw JSON (`_preload_content=False`), which their stubs do not model.
    def _batch(self) -> Any:
        return client.BatchV1Api(self.clients())

    def _core(self) -> Any:
        return client.CoreV1Api(self.clients())

    def create_job(self, namespace: str, manifest: Body) -> str:
        """Create the Job (or find the one of that name created before); its UID. A Job the
        server rejects (400, 422) raises `Refused`."""
        batch = self._batch()
        created = refused_on(
            INVALID,
            lambda: none_on((CONFLICT,), lambda: batch.create_namespaced_job(namespace, manifest)),
        )
        if created is None:
            created = batch.read_namespaced_job(manifest["metadata"]["name"], namespace)
        return str(created.metadata.uid)

    def unsuspend(self, job: JobRef) -> None:
        batch = self._batch()
        unless_missing(
            lambda: batch.patch_namespaced_job(
                job.name, job.namespace, {"spec": {"suspend": False}}
            )
        )

    def read_job(self, job: JobRef) -> Body | None:
        """The Job, or None when it (this one: same UID) no longer exists."""
        batch = self._batch()
        response = unless_missing(
            lambda: batch.read_namespaced_job(
                job.name,
                job.namespace,
                _preload_content=False,
                _request_timeout=READ_TIMEOUT,
            )
        )
        if response is None:
            return None
        body = cast(Body, json.loads(response.data))
        if job.uid and body["metadata"].get("uid") != job.uid:
            return None  # a later Job with the same name: ours is gone
        return body

    def pods(self, namespace: str, label_selector: str) -> list[Body]:
        response = self._core().list_namespaced_pod(
            namespace,
            label_selector=label_selector,
            _preload_content=False,
            _request_timeout=READ_TIMEOUT,
        )
        return list(json.loads(response.data).get("items") or [])

    def events_of(self, namespace: str, uid: str, which: str) -> list[Body]:
        """The Events about the object with `uid` that `which` selects (`reason=FailedCreate`:
        why a Job has no pod; `type=Warning`: why a pod does not start); none when the operator
        may not list Events."""
        core = self._core()
        response = none_on(
            (FORBIDDEN,),
            lambda: core.list_namespaced_event(
                namespace,
                field_selector=f"involvedObject.uid={uid},{which}",
                _preload_content=False,
                _request_timeout=READ_TIMEOUT,
            ),
        )
        return [] if response is None else list(json.loads(response.data).get("items") or [])

    def jobs(self, namespace: str | None, label_selector: str) -> list[Body]:
        """The Jobs `label_selector` selects in `namespace` (None: all namespaces)."""
        batch = self._batch()
        response = (
            batch.list_namespaced_job(
                namespace, label_selector=label_selector, _preload_content=False
            )
            if namespace
            else batch.list_job_for_all_namespaces(
                label_selector=label_selector, _preload_content=False
            )
        )
        return list(json.loads(response.data).get("items") or [])

    def lister(self, kind: str, namespace: str | None) -> Lister:
        """The list call of `kind` (`pods` or `jobs`) in `namespace` (None: all), for a
        ListWatch; bound to the client of the thread that asks for it."""
        core, batch = self._core(), self._batch()
        if kind == "pods":
            lister = core.list_namespaced_pod if namespace else core.list_pod_for_all_namespaces
        else:
            lister = batch.list_namespaced_job if namespace else batch.list_job_for_all_namespaces
        return cast(Lister, functools.partial(lister, namespace) if namespace else lister)

    def mark_job(self, job: JobRef, mark: Body) -> None:
        """Merge-patch the Job's metadata; a gone Job is fine."""
        batch = self._batch()
        unless_missing(lambda: batch.patch_namespaced_job(job.name, job.namespace, mark))

    def mark_and_delete_pod(self, namespace: str, name: str, mark: Body, grace: int) -> None:
        """Merge-patch the pod's metadata, then delete it with `grace` seconds; a gone pod is
        fine."""
        core = self._core()

        def mark_and_delete() -> None:
            core.patch_namespaced_pod(name, namespace, mark)
            core.delete_namespaced_pod(name, namespace, grace_period_seconds=grace)

        unless_missing(mark_and_delete)

    def delete_pod(self, namespace: str, name: str, grace: int) -> None:
        core = self._core()
        unless_missing(
            lambda: core.delete_namespaced_pod(name, namespace, grace_period_seconds=grace)
        )

    def delete_job(self, job: JobRef, propagation: str, grace: int) -> None:
        """Delete the Job (only this one: same UID); gone already, or a later Job of that name
        (409 on the UID precondition), is fine."""
        options: Body = {"propagationPolicy": propagation, "gracePeriodSeconds": grace}
        if job.uid:
            options["preconditions"] = {"uid": job.uid}
        batch = self._batch()
        none_on(
            (NOT_FOUND, CONFLICT),
            lambda: batch.delete_namespaced_job(job.name, job.namespace, body=options),
        )
