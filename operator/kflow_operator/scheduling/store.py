"""The reads and writes of the scheduling pass and the launch gate (and their pool look-ups).

With indexes (the operator's informers), reads come from memory and every write's result goes
into them at once, so the next decision sees it even before the watch does; the calls
themselves go through kubeapi, with its conventions (absent: None; moved: None).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kflow.resources.pools import run_pool
from kflow.states import TERMINAL_STATE_TYPES

from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.kflow_objects import KflowObjects
from kflow_operator.object_index import BY_POOL, ObjectIndex

TERMINAL_NAMES = frozenset(state.value for state in TERMINAL_STATE_TYPES)

INDEX_READY_SECONDS = 60.0
"""How long a pass waits for the operator's first listing of FlowRuns and Deployments."""


class IndexNotReady(Exception):
    """The first listing is not in: deciding on a partial picture could start a run twice."""


class ScheduleApi:
    """The calls a scheduling pass and the launch gate make."""

    def __init__(
        self,
        api: KflowObjects | None = None,
        runs: ObjectIndex | None = None,
        deployments: ObjectIndex | None = None,
        workpools: ObjectIndex | None = None,
    ) -> None:
        self._api = api or KflowObjects()
        self.runs = runs
        self.deployments = deployments
        self.workpools = workpools

    def _ready(self, index: ObjectIndex | None) -> ObjectIndex | None:
        if index is None:
            return None
        if not index.wait_ready(INDEX_READY_SECONDS):
            raise IndexNotReady("the operator's list of FlowRuns and Deployments is not in yet")
        return index

    def get_deployment(self, namespace: str, name: str) -> Body | None:
        index = self._ready(self.deployments)
        if index is not None:
            found = index.get(namespace, name)
            if found is not None:
                return found
        # Not (yet) in the picture: ask the server, which has the last word on absence.
        body = self._api.get_deployment(namespace, name)
        if body is not None and index is not None:
            index.put(body)
        return body

    def get_run(self, namespace: str, name: str) -> Body | None:
        index = self._ready(self.runs)
        found = index.get(namespace, name) if index is not None else None
        return found if found is not None else self._api.get_flowrun(namespace, name)

    def list_runs(self, namespace: str, deployment_name: str) -> list[Body]:
        """The Deployment's runs: every FlowRun whose spec.deploymentRef names it. Read-only."""
        index = self._ready(self.runs)
        if index is not None:
            return index.group(namespace, deployment_name)
        return [
            run
            for run in self._api.list_flowruns(namespace)
            if ((run.get("spec") or {}).get("deploymentRef") or {}).get("name") == deployment_name
        ]

    def get_pool(self, namespace: str, name: str) -> Body | None:
        """A WorkPool from the index: None when it does not exist (as far as the watch has
        said; its creation wakes whoever waits for it). No API call per decision."""
        index = self._ready(self.workpools)
        if index is not None:
            return index.get(namespace, name)
        return self._api.get_workpool(namespace, name)

    def pool_runs(self, namespace: str, pool: str) -> list[Body]:
        """Every FlowRun of `pool`: those naming it, and the runs of its Deployments that name
        no pool of their own (kflow.resources.pools.run_pool). Read-only."""
        runs = self._ready(self.runs)
        deployments = self._ready(self.deployments)
        if runs is None or deployments is None:
            return self._listed_pool_runs(namespace, pool)
        found = {b["metadata"]["name"]: b for b in runs.group(namespace, pool, by=BY_POOL)}
        for deployment in deployments.group(namespace, pool, by=BY_POOL):
            for run in runs.group(namespace, deployment["metadata"]["name"]):
                if run_pool(run.get("spec") or {}, None) is None:
                    found[run["metadata"]["name"]] = run
        return list(found.values())

    def _listed_pool_runs(self, namespace: str, pool: str) -> list[Body]:
        """Without indexes (tests of the pass alone): from the API server."""
        result = []
        for run in self._api.list_flowruns(namespace):
            spec = run.get("spec") or {}
            ref = (spec.get("deploymentRef") or {}).get("name")
            deployment = self.get_deployment(namespace, ref) if ref else None
            if run_pool(spec, (deployment or {}).get("spec")) == pool:
                result.append(run)
        return result

    def _remember(self, body: Body | None) -> None:
        if body is not None and self.runs is not None:
            self.runs.put(body)

    def create_run(self, namespace: str, body: Body) -> bool:
        """True when created; False when it already exists (another pass made it)."""
        created = self._api.create_flowrun(namespace, body)
        if created is None:
            return False
        self._remember(created)
        return True

    def delete_run(self, namespace: str, name: str, resource_version: str | None) -> bool:
        """True when deleted; False when the run is gone or moved since `resource_version`."""
        if not self._api.delete_flowrun(namespace, name, resource_version):
            return False
        if self.runs is not None:
            # Gone from decisions now; a finalizer may keep it a while, and the watch says so.
            self.runs.drop(namespace, name, resource_version)
        return True

    def fresh_run(self, namespace: str, name: str) -> Body | None:
        """The run as the API server has it now (the index may lag behind); the index learns
        it too."""
        found = self._api.get_flowrun(namespace, name)
        self._remember(found)
        return found

    def delete_finished_run(self, namespace: str, name: str, resource_version: str | None) -> bool:
        """Delete a finished run at `resource_version` or, when it moved since but is still
        finished, at its current one: its supervisor's last write (the Finished condition,
        the finalizer's removal) changes no state and wakes no pass, so a pass that read the
        run just before it would otherwise never delete it."""
        if self.delete_run(namespace, name, resource_version):
            return True
        fresh = self.fresh_run(namespace, name)
        state = ((fresh or {}).get("status") or {}).get("state") or {}
        if fresh is None or state.get("type") not in TERMINAL_NAMES:
            return False
        return self.delete_run(namespace, name, fresh["metadata"].get("resourceVersion"))

    def patch_run_status(
        self, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> Body | None:
        """Merge-patch a run's status at `resource_version`; None when it moved meanwhile."""
        written = self._api.patch_flowrun_status(namespace, name, status, resource_version)
        self._remember(written)
        return written

    def request_cancel(self, namespace: str, name: str) -> None:
        self._remember(self._api.patch_flowrun(namespace, name, {"spec": {"cancel": True}}))

    def patch_deployment_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        patched = self._api.patch_deployment_status(namespace, name, status)
        if patched is not None and self.deployments is not None:
            self.deployments.put(patched)
