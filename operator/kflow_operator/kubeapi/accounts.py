"""ServiceAccounts, their Roles and RoleBindings, and tokens of them: the calls that give a flow
its own identity (launchers/flow_account.py decides which; launchers/flow_credentials.py issues
the tokens)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubernetes import client

from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.clients import ClientFactory
from kflow_operator.kubeapi.errors import (
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    none_on,
    refused_on,
    unless_missing,
)


class AccountsApi:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    # Plain manifests in, raw JSON out: the generated stubs do not model that.
    def _core(self) -> Any:
        return client.CoreV1Api(self._clients())

    def _rbac(self) -> Any:
        return client.RbacAuthorizationV1Api(self._clients())

    def service_account_exists(self, namespace: str, name: str) -> bool:
        core = self._core()
        found = unless_missing(lambda: core.read_namespaced_service_account(name, namespace))
        return found is not None

    def create_service_account(self, namespace: str, metadata: Mapping[str, Any]) -> None:
        """Create it; one of that name already there is kept."""
        core = self._core()
        none_on(
            (CONFLICT,),
            lambda: core.create_namespaced_service_account(namespace, {"metadata": metadata}),
        )

    def apply_role(self, namespace: str, role: Body) -> None:
        """Create the Role, or give the existing one of that name these rules."""
        rbac = self._rbac()
        created = none_on((CONFLICT,), lambda: rbac.create_namespaced_role(namespace, role))
        if created is None:
            rbac.patch_namespaced_role(
                role["metadata"]["name"], namespace, {"rules": role["rules"]}
            )

    def create_role_binding(self, namespace: str, binding: Body) -> None:
        """Create it; one of that name already there is kept."""
        rbac = self._rbac()
        none_on((CONFLICT,), lambda: rbac.create_namespaced_role_binding(namespace, binding))

    def request_token(self, namespace: str, account: str, seconds: int) -> Body:
        """A token of `account` (TokenRequest) for `seconds`: its status, with `token` and
        `expirationTimestamp`. A missing account (404) or right (403) raises `Refused`."""
        core = self._core()
        request = {"spec": {"expirationSeconds": seconds}}
        granted = refused_on(
            (NOT_FOUND, FORBIDDEN),
            lambda: core.create_namespaced_service_account_token(
                account, namespace, request, _preload_content=False
            ),
        )
        status: Body = json.loads(granted.data)["status"]
        return status
