"""The Job launcher's calls to the Kubernetes API: Jobs and their pods, read as raw JSON.

Every call blocks; the launcher makes them from the operator's worker threads and its own
threads, each with an API client of its own. What a 404 or a 409 means is settled here: a gone
Job or pod is fine to stop or delete, and a Job name already taken is this attempt's own earlier
launch (the name comes from the launch key).
"""

from __future__ import annotations

import functools
import json
from typing import Any, cast

from kflow.cluster.kube import new_api_client
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kflow_operator.kube import Body
from kflow_operator.launchers.background import PerThread
from kflow_operator.launchers.base import LaunchError
from kflow_operator.launchers.flow_account import api_message
from kflow_operator.launchers.kubernetes_job.names import JOB_UID_LABEL, OWN_SELECTOR, JobId

READ_TIMEOUT = (10.0, 30.0)
"""(connect, read) seconds for the reads a run's supervisor makes on every look: a connection
that hangs must fail (and be retried) rather than leave the run unsupervised."""


class JobApi:
    def __init__(self) -> None:
        self._clients = PerThread(new_api_client)

    def client(self) -> client.ApiClient:
        """This thread's API client."""
        return self._clients.get()

    # The generated clients are typed for their model classes; this launcher sends plain
    # manifests and reads raw JSON (`_preload_content=False`), which their stubs do not model.
    def _batch(self) -> Any:
        return client.BatchV1Api(self.client())

    def _core(self) -> Any:
        return client.CoreV1Api(self.client())

    def create_job(self, namespace: str, manifest: Body) -> str:
        """Create the Job (or find the one this attempt created before); its UID."""
        try:
            created = self._batch().create_namespaced_job(namespace, manifest)
            return str(created.metadata.uid)
        except ApiException as error:
            if error.status == 409:
                name = manifest["metadata"]["name"]
                existing = self._batch().read_namespaced_job(name, namespace)
                return str(existing.metadata.uid)
            if error.status in (400, 422):
                raise LaunchError(
                    f"Kubernetes refused the Job for this run: {api_message(error)}; "
                    "check spec.infrastructure (image, job.podTemplatePatch)"
                ) from error
            raise

    def unsuspend(self, job: JobId) -> None:
        try:
            self._batch().patch_namespaced_job(
                job.name, job.namespace, {"spec": {"suspend": False}}
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def read_job(self, job_id: JobId) -> Body | None:
        """The Job, or None when it (this one: same UID) no longer exists."""
        try:
            response = self._batch().read_namespaced_job(
                job_id.name,
                job_id.namespace,
                _preload_content=False,
                _request_timeout=READ_TIMEOUT,
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        body = cast(Body, json.loads(response.data))
        if job_id.uid and body["metadata"].get("uid") != job_id.uid:
            return None  # a later Job with the same name: ours is gone
        return body

    def pods_of(self, namespace: str, job_uid: str) -> list[Body]:
        response = self._core().list_namespaced_pod(
            namespace,
            label_selector=f"{JOB_UID_LABEL}={job_uid}",
            _preload_content=False,
            _request_timeout=READ_TIMEOUT,
        )
        return list(json.loads(response.data).get("items") or [])

    def own_jobs(self, namespace: str | None) -> list[Body]:
        """Every Job this launcher made in `namespace` (None: all namespaces)."""
        batch = self._batch()
        response = (
            batch.list_namespaced_job(
                namespace, label_selector=OWN_SELECTOR, _preload_content=False
            )
            if namespace
            else batch.list_job_for_all_namespaces(
                label_selector=OWN_SELECTOR, _preload_content=False
            )
        )
        return list(json.loads(response.data).get("items") or [])

    def lister(self, kind: str, namespace: str | None) -> Any:
        """The list call of `kind` (`pods` or `jobs`) in `namespace` (None: all), for a
        ListWatch; bound to the client of the thread that asks for it."""
        core, batch = self._core(), self._batch()
        if kind == "pods":
            lister = core.list_namespaced_pod if namespace else core.list_pod_for_all_namespaces
        else:
            lister = batch.list_namespaced_job if namespace else batch.list_job_for_all_namespaces
        return functools.partial(lister, namespace) if namespace else lister

    def mark_job(self, job_id: JobId, mark: Body) -> None:
        """Merge-patch the Job's metadata; a gone Job is fine."""
        try:
            self._batch().patch_namespaced_job(job_id.name, job_id.namespace, mark)
        except ApiException as error:
            if error.status != 404:
                raise

    def mark_and_delete_pod(self, namespace: str, name: str, mark: Body, grace: int) -> None:
        """Merge-patch the pod's metadata, then delete it with `grace` seconds; a gone pod is
        fine."""
        try:
            self._core().patch_namespaced_pod(name, namespace, mark)
            self._core().delete_namespaced_pod(name, namespace, grace_period_seconds=grace)
        except ApiException as error:
            if error.status != 404:
                raise

    def delete_pod(self, namespace: str, name: str, grace: int) -> None:
        try:
            self._core().delete_namespaced_pod(name, namespace, grace_period_seconds=grace)
        except ApiException as error:
            if error.status != 404:
                raise

    def delete_job(self, job_id: JobId, propagation: str, grace: int) -> None:
        options: Body = {"propagationPolicy": propagation, "gracePeriodSeconds": grace}
        if job_id.uid:
            options["preconditions"] = {"uid": job_id.uid}
        try:
            self._batch().delete_namespaced_job(job_id.name, job_id.namespace, body=options)
        except ApiException as error:
            if error.status not in (404, 409):  # gone, or a later Job of that name
                raise
