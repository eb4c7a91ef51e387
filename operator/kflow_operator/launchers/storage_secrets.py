"""The result-storage credentials of a run that starts outside a pod (process, Docker).

A Job's pod reads its `credentialsSecretRef` itself (env `valueFrom.secretKeyRef`); a process or
container has no kubelet to do that, so the operator reads the Secret when it starts the run and
passes the values as environment variables of the run, nowhere else. Read at each launch, never
cached. Only a Secret labelled STORAGE_SECRET_LABEL=true is used: whoever may write a Deployment
could otherwise have the operator hand any Secret of the namespace to a flow that prints it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kflow.resources import GROUP, SecretKey

from kflow_operator.infrastructure import LaunchRequest
from kflow_operator.kubeapi.clients import ClientFactory
from kflow_operator.kubeapi.secret_reads import SecretForbidden, read_secret
from kflow_operator.launchers.base import LaunchError

STORAGE_SECRET_LABEL = f"{GROUP}/result-storage"

SecretEnvReader = Callable[[str, Mapping[str, SecretKey]], dict[str, str]]
"""(namespace, the request's secret_env) → the variables' values; raises LaunchError."""


class StorageSecrets:
    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    def __call__(self, namespace: str, wanted: Mapping[str, SecretKey]) -> dict[str, str]:
        values: dict[str, str] = {}
        data_of: dict[str, Mapping[str, str]] = {}
        for name, ref in wanted.items():
            if ref.secret not in data_of:
                data_of[ref.secret] = self._read(namespace, ref.secret)
            value = data_of[ref.secret].get(ref.key)
            if value is not None:
                values[name] = value
            elif not ref.optional:
                raise LaunchError(
                    f"Secret {namespace}/{ref.secret} (resultStorage.s3.credentialsSecretRef) "
                    f"has no key {ref.key!r}; it needs AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN optional)",
                    reason="StorageSecretInvalid",
                )
        return values

    def _read(self, namespace: str, name: str) -> Mapping[str, str]:
        field = "resultStorage.s3.credentialsSecretRef"
        try:
            found = read_secret(self._clients, namespace, name)
        except SecretForbidden:
            raise LaunchError(
                f"the operator may not read Secret {namespace}/{name} named by {field}: "
                "grant it `get` on Secrets in this namespace",
                reason="StorageSecretUnreadable",
            ) from None
        if found is None:
            raise LaunchError(
                f"Secret {namespace}/{name} named by {field} does not exist; create it "
                "with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                reason="StorageSecretNotFound",
            )
        if found.labels.get(STORAGE_SECRET_LABEL) != "true":
            raise LaunchError(
                f"Secret {namespace}/{name} named by {field} is not marked for kflow result "
                f"storage: label it with `kubectl label secret -n {namespace} {name} "
                f"{STORAGE_SECRET_LABEL}=true`",
                reason="StorageSecretUnreadable",
            )
        return found.data


def secret_values(request: LaunchRequest, reader: SecretEnvReader | None) -> dict[str, str]:
    """The values of `request.secret_env`, read with `reader`."""
    if not request.secret_env:
        return {}
    if reader is None:
        raise LaunchError(
            "this launcher cannot read the Secret named by resultStorage.s3.credentialsSecretRef "
            "(it was started without Kubernetes access to Secrets)",
            reason="StorageSecretUnreadable",
        )
    return reader(request.namespace, request.secret_env)
