"""The identity a flow runs as: the `kflow-flow-run` ServiceAccount of its namespace, with a Role
that lets it read its Deployment and FlowRun, write FlowRun status and flip spec.paused —
nothing else. Job pods run as it; Docker containers get short-lived tokens of it.

Created by the operator on demand rather than installed by the Helm chart: the chart cannot know
which namespaces will hold FlowRuns (they come and go, and a cluster-wide operator serves all),
and a namespace gets exactly these least-privilege rights only once it runs a flow. The chart
grants the operator the right to create these three kinds; RBAC's escalation check lets it
grant only rights it holds itself. `--no-flow-service-accounts` leaves them to the cluster's
administrators.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from kflow.resources import DEPLOYMENT_PLURAL, FLOWRUN_PLURAL, GROUP
from kubernetes import client
from kubernetes.client.exceptions import ApiException

Body = dict[str, Any]

FLOW_SERVICE_ACCOUNT = "kflow-flow-run"
"""The ServiceAccount (and Role, RoleBinding) every namespace's flows run as by default."""
LABEL_MANAGED = "app.kubernetes.io/managed-by"
MANAGED_BY = "kflow-operator"

FLOW_ROLE_RULES: list[Body] = [
    {
        "apiGroups": [GROUP],
        "resources": [FLOWRUN_PLURAL, DEPLOYMENT_PLURAL],
        "verbs": ["get", "list", "watch"],
    },
    # spec.paused: `pause_flow_run()` in the flow sets it, `resume_flow_run()` clears it.
    {"apiGroups": [GROUP], "resources": [FLOWRUN_PLURAL], "verbs": ["patch"]},
    {"apiGroups": [GROUP], "resources": [f"{FLOWRUN_PLURAL}/status"], "verbs": ["get", "patch"]},
]
"""What a flow's own process may do in its namespace: read FlowRuns and Deployments, write
FlowRun status, and flip spec.paused for pause/resume from inside the flow. Nothing else:
no Secrets, no pods, no other resources."""


class FlowAccounts:
    """Makes sure the flow ServiceAccount, Role and RoleBinding exist in a namespace."""

    def __init__(self, api: Callable[[], client.ApiClient], manage: bool = True) -> None:
        """`api` gives the calling thread's client; `manage=False` only expects them."""
        self._api = api
        self._manage = manage
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    @property
    def managed(self) -> bool:
        return self._manage

    def ensure(self, namespace: str) -> None:
        """Create what is missing (a no-op when not managed). Cheap once done: a namespace
        known ready costs one read, which notices a namespace deleted and made anew."""
        if not self._manage:
            return
        core: Any = client.CoreV1Api(self._api())
        with self._lock:
            known = namespace in self._ready
        if known:
            try:
                core.read_namespaced_service_account(FLOW_SERVICE_ACCOUNT, namespace)
                return
            except ApiException as error:
                if error.status != 404:
                    raise
                with self._lock:
                    self._ready.discard(namespace)
        labels = {LABEL_MANAGED: MANAGED_BY}
        meta = {"name": FLOW_SERVICE_ACCOUNT, "namespace": namespace, "labels": labels}
        rbac: Any = client.RbacAuthorizationV1Api(self._api())
        _create_or_keep(
            lambda: core.create_namespaced_service_account(namespace, {"metadata": meta})
        )
        role = {"metadata": meta, "rules": FLOW_ROLE_RULES}
        try:
            rbac.create_namespaced_role(namespace, role)
        except ApiException as error:
            if error.status != 409:
                raise
            rbac.patch_namespaced_role(FLOW_SERVICE_ACCOUNT, namespace, {"rules": FLOW_ROLE_RULES})
        binding = {
            "metadata": meta,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": FLOW_SERVICE_ACCOUNT,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": FLOW_SERVICE_ACCOUNT, "namespace": namespace}
            ],
        }
        _create_or_keep(lambda: rbac.create_namespaced_role_binding(namespace, binding))
        with self._lock:
            self._ready.add(namespace)


def _create_or_keep(create: Callable[[], object]) -> None:
    try:
        create()
    except ApiException as error:
        if error.status != 409:
            raise


def api_message(error: ApiException) -> str:
    """The API server's own words for a refusal (its Status message), else the HTTP reason."""
    try:
        return str(json.loads(error.body or "").get("message"))
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)
