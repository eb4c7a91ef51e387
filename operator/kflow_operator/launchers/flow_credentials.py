"""Per-run Kubernetes credentials for flows that run outside the cluster (Docker containers).

A Job's pod runs as the namespace's flow ServiceAccount (launchers/flow_account.py); a container
gets the same identity, never the operator's: for each run the operator asks the TokenRequest
API for a token of `kflow-flow-run` in the run's namespace and writes, into a directory of its
own for that run, a kubeconfig (the API server address and CA the operator uses, see
`cluster_entry`) whose user is an exec credential plugin — `cat` of a credential file beside it.
Each time the files are written they are also handed to `delivered` (the Docker launcher copies
them into the container at CONTAINER_DIR, where KUBECONFIG points): copied, not bind-mounted,
because an operator in a pod has no path the node's Docker engine could mount, and a remote
engine none at all.

Token lifetime and refresh: the token is requested for `lifetime` (default 6 hours; the API
server may shorten it). The operator replaces the credential file with a fresh token once half
of the lifetime has passed (written atomically here, and copied into the container again). The
credential file tells the client it expires at three quarters of the lifetime, and the
Kubernetes clients (the Python client kflow uses, kubectl, client-go) run the exec plugin again
once that time is near, so a long flow keeps working: it picks up the refreshed token without
restarting and without any change in the flow. An operator that is down for longer than a
quarter of the lifetime leaves the flow with an expired token (API calls refused with 401 until
the operator is back and refreshes it).

Not bound to an object: TokenRequest binds tokens only to Pods, Secrets or Nodes, and a
per-run Secret would need the operator to create Secrets in every namespace (which, with
service-account-token Secrets, means minting tokens for any account). The token's rights are the
flow Role's (read FlowRuns/Deployments of its namespace, write FlowRun status), its lifetime is
bounded, and it stops being refreshed when the run is finished with.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import shutil
import tarfile
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from kflow.resources import parse_timestamp

from kflow_operator.kubeapi import Body
from kflow_operator.kubeapi.accounts import AccountsApi
from kflow_operator.kubeapi.clients import ClientFactory
from kflow_operator.kubeapi.errors import NOT_FOUND, Refused
from kflow_operator.launchers.base import LaunchError
from kflow_operator.launchers.flow_account import FLOW_SERVICE_ACCOUNT, FlowAccounts

logger = logging.getLogger(__name__)

CONTAINER_DIR = "/var/run/kflow"
"""Where a run's credential files are copied in its container."""
KUBECONFIG_FILE = "kubeconfig"
CREDENTIAL_FILE = "credential.json"
EXEC_API_VERSION = "client.authentication.k8s.io/v1"
DEFAULT_LIFETIME = timedelta(hours=6)
MIN_LIFETIME = timedelta(minutes=10)
"""TokenRequest refuses shorter lifetimes."""
IN_CLUSTER_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")


# --- pure parts ------------------------------------------------------------------------------


def client_expiry(issued: datetime, expires: datetime) -> datetime:
    """When the container's client should read the credential file again: at three quarters
    of the token's life, a quarter after the operator has replaced it (see the module doc)."""
    return issued + (expires - issued) * 3 / 4


def refresh_due(issued: datetime, expires: datetime, now: datetime) -> bool:
    """Whether the operator should replace a run's token: half its life has passed."""
    return now >= issued + (expires - issued) / 2


def exec_credential(token: str, issued: datetime, expires: datetime) -> Body:
    """The ExecCredential the plugin (`cat`) prints."""
    expiry = client_expiry(issued, expires).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": EXEC_API_VERSION,
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": expiry},
    }


def cluster_entry(kubeconfig: Mapping[str, Any], context: str | None = None) -> Body:
    """The `cluster` section (server, CA data, TLS options) of the kubeconfig's current (or
    given) context, as the operator itself reaches the API server."""
    name = context or kubeconfig.get("current-context")
    contexts = {c.get("name"): c.get("context") or {} for c in kubeconfig.get("contexts") or []}
    chosen = contexts.get(name) if name else None
    if chosen is None:
        raise ValueError(f"the kubeconfig has no context {name!r} (current-context)")
    clusters = {c.get("name"): c.get("cluster") or {} for c in kubeconfig.get("clusters") or []}
    cluster = clusters.get(chosen.get("cluster"))
    if not cluster or not cluster.get("server"):
        raise ValueError(f"the kubeconfig's context {name!r} names no cluster with a server")
    return dict(cluster)


def run_kubeconfig(
    cluster: Mapping[str, Any],
    namespace: str,
    credential: str = f"{CONTAINER_DIR}/{CREDENTIAL_FILE}",
) -> Body:
    """A kubeconfig whose user runs `cat <credential file>`: kubectl and every Kubernetes
    client run it again when the credential it printed expires."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kflow", "cluster": dict(cluster)}],
        "users": [
            {
                "name": FLOW_SERVICE_ACCOUNT,
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API_VERSION,
                        "command": "cat",
                        "args": [credential],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [
            {
                "name": "kflow",
                "context": {
                    "cluster": "kflow",
                    "user": FLOW_SERVICE_ACCOUNT,
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "kflow",
    }


def in_cluster_entry() -> Body:
    """The cluster section for an operator running in a pod: the API service and its CA."""
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    ca = base64.b64encode(IN_CLUSTER_CA.read_bytes()).decode()
    return {"server": server, "certificate-authority-data": ca}


# --- writing and refreshing ------------------------------------------------------------------


@dataclass
class _Issued:
    namespace: str
    directory: Path
    issued: datetime
    expires: datetime


class FlowCredentials:
    """Issues, refreshes and removes the credential directories of Docker runs."""

    def __init__(
        self,
        api: ClientFactory,
        accounts: FlowAccounts,
        cluster: Mapping[str, Any],
        directory: Path,
        lifetime: timedelta = DEFAULT_LIFETIME,
    ) -> None:
        """`directory` holds one sub-directory per run; only the operator may list it."""
        self._api = AccountsApi(api)
        self._accounts = accounts
        self._cluster = dict(cluster)
        self._directory = directory
        self._lifetime = max(lifetime, MIN_LIFETIME)
        self._lock = threading.Lock()
        self._issued: dict[str, _Issued] = {}
        self.delivered: Callable[[str, Path], None] | None = None
        """Called with (run, directory) after every write of a run's files."""
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)

    def issue(self, run: str, namespace: str) -> Path:
        """A fresh token for `run` (a directory name: the container's) in `namespace`; the
        directory whose files belong at CONTAINER_DIR."""
        self._accounts.ensure(namespace)
        target = self._directory / run
        target.mkdir(exist_ok=True)
        target.chmod(0o755)  # read by the container's user, whoever the image runs as
        _write(target / KUBECONFIG_FILE, yaml.safe_dump(run_kubeconfig(self._cluster, namespace)))
        self._write_token(run, namespace, target)
        return target

    def adopt(self, run: str, namespace: str) -> None:
        """Keep refreshing the token of a run started before this operator did (one this
        operator launched is known already)."""
        with self._lock:
            if run in self._issued:
                return
        target = self._directory / run
        if target.is_dir():
            self._write_token(run, namespace, target)

    def _write_token(self, run: str, namespace: str, target: Path) -> None:
        try:
            status = self._api.request_token(
                namespace, FLOW_SERVICE_ACCOUNT, int(self._lifetime.total_seconds())
            )
        except Refused as error:
            if error.status == NOT_FOUND:
                raise LaunchError(
                    f"the ServiceAccount {FLOW_SERVICE_ACCOUNT} does not exist in namespace "
                    f"{namespace!r}: create it with its Role (see `kubectl get role "
                    f"{FLOW_SERVICE_ACCOUNT} -n <a namespace that ran a flow> -o yaml`) or let "
                    "the operator manage them (without --no-flow-service-accounts)"
                ) from error
            raise LaunchError(
                f"the operator may not request tokens of {FLOW_SERVICE_ACCOUNT} in "
                f"namespace {namespace!r} ({error.message}); grant it `create` on "
                "`serviceaccounts/token` there (the Helm chart does)"
            ) from error
        issued = datetime.now(UTC)
        expires = parse_timestamp(status["expirationTimestamp"])
        if expires - issued < self._lifetime * 0.9:
            logger.warning(
                "the API server shortened flow tokens in %s to %s (asked for %s)",
                namespace,
                expires - issued,
                self._lifetime,
            )
        credential = exec_credential(status["token"], issued, expires)
        _write(target / CREDENTIAL_FILE, json.dumps(credential))
        with self._lock:
            self._issued[run] = _Issued(namespace, target, issued, expires)
        if self.delivered is not None:
            self.delivered(run, target)

    def refresh(self, now: datetime | None = None) -> None:
        """Replace the tokens past half their life (called every minute)."""
        now = now or datetime.now(UTC)
        with self._lock:
            due = [
                (run, entry)
                for run, entry in self._issued.items()
                if refresh_due(entry.issued, entry.expires, now)
            ]
        for run, entry in due:
            try:
                self._write_token(run, entry.namespace, entry.directory)
            except Exception as error:
                logger.warning("refreshing the token of %s failed (retried): %s", run, error)

    def remove(self, run: str) -> None:
        """The run is finished with: its token is no longer refreshed and its files go."""
        with self._lock:
            self._issued.pop(run, None)
        shutil.rmtree(self._directory / run, ignore_errors=True)

    def sweep(self, kept: Collection[str], grace_seconds: float) -> list[str]:
        """Remove the directories of runs not in `kept` (their containers are gone), once older
        than `grace_seconds` (a launch writes its directory before it creates the container)."""
        removed = []
        now = time.time()
        with contextlib.suppress(FileNotFoundError):
            for path in self._directory.iterdir():
                if path.name in kept or not path.is_dir():
                    continue
                if now - path.stat().st_mtime < grace_seconds:
                    continue
                self.remove(path.name)
                removed.append(path.name)
        return removed


def credentials_archive(directory: Path) -> bytes:
    """A tar of CONTAINER_DIR's last component with a run's files, for Docker's put_archive
    into CONTAINER_DIR's parent; readable by whatever user the image runs as."""
    buffer = io.BytesIO()
    name = PurePosixPath(CONTAINER_DIR).name
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        folder = tarfile.TarInfo(name)
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        folder.mtime = int(time.time())
        archive.addfile(folder)
        for file in (KUBECONFIG_FILE, CREDENTIAL_FILE):
            data = (directory / file).read_bytes()
            entry = tarfile.TarInfo(f"{name}/{file}")
            entry.size = len(data)
            entry.mode = 0o644
            entry.mtime = folder.mtime
            archive.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def _write(path: Path, text: str) -> None:
    """Atomically (a reader never sees half a file), readable by the container's user."""
    temporary = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    temporary.write_text(text)
    temporary.chmod(0o644)
    temporary.replace(path)
