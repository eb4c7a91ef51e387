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

import threading

from kflow.resources import DEPLOYMENT_PLURAL, FLOWRUN_PLURAL, GROUP

from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.accounts import AccountsApi
from kflow_operator.kubeapi.clients import ClientFactory

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

    def __init__(self, api: ClientFactory, manage: bool = True) -> None:
        """`api` gives the calling thread's client; `manage=False` only expects them."""
        self._api = AccountsApi(api)
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
        with self._lock:
            known = namespace in self._ready
        if known:
            if self._api.service_account_exists(namespace, FLOW_SERVICE_ACCOUNT):
                return
            with self._lock:
                self._ready.discard(namespace)
        labels = {LABEL_MANAGED: MANAGED_BY}
        meta = {"name": FLOW_SERVICE_ACCOUNT, "namespace": namespace, "labels": labels}
        self._api.create_service_account(namespace, meta)
        self._api.apply_role(namespace, {"metadata": meta, "rules": FLOW_ROLE_RULES})
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
        self._api.create_role_binding(namespace, binding)
        with self._lock:
            self._ready.add(namespace)
