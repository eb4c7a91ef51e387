"""Where the Kubernetes API server is and how to prove who we are, found the way kubectl finds it,
without importing the `kubernetes` package (its import alone costs about half a CPU-second,
paid by every flow run's `kflow execute`).

In a pod the service-account token is the only credential there is, so in-cluster config wins
when no context is asked for; elsewhere the KUBECONFIG files (or ~/.kube/config), merged like
kubectl merges them: the first file that defines a cluster, user or context name wins, and so
does the first `current-context`. Relative paths are relative to the file that names them.

Handled here: server, certificate-authority(-data), insecure-skip-tls-verify, tls-server-name,
proxy-url (http:// only), token / tokenFile, client-certificate(-data) + client-key(-data), and
exec credential plugins returning a token (the Docker launcher's per-run kubeconfig is one).
auth-provider and username/password are read through the `kubernetes` library instead: slow,
but right for the few users who need them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml

from kflow.cluster.discovery import SERVICE_ACCOUNT_DIR, in_cluster, kubeconfig_paths

EXEC_TIMEOUT_SECONDS = 30.0
EXEC_EXPIRY_MARGIN = timedelta(seconds=10)
"""Run an exec plugin again this long before the credential it printed says it expires."""

FALLBACK_USER_FIELDS = ("auth-provider", "username", "password")

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: every run reads its kubeconfig before
RUNNING, and the pure-Python parser spends ~5 ms on a small one."""


class KubeConfigError(RuntimeError):
    """No cluster could be reached from the configuration at hand."""


class TokenSource(Protocol):
    """Produces the Authorization header's value; `invalidate` after the API answered 401."""

    def authorization(self) -> str | None: ...

    def invalidate(self) -> None: ...


@dataclass(frozen=True)
class StaticToken:
    token: str

    def authorization(self) -> str | None:
        return f"Bearer {self.token}"

    def invalidate(self) -> None:
        return None


@dataclass
class TokenFile:
    """A token read from a file, read again whenever the file changes: bound service-account
    tokens are rotated by the kubelet (an atomic symlink swap) about every hour."""

    path: Path
    _seen: tuple[int, int, int] | None = field(default=None, repr=False)
    _token: str = field(default="", repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def authorization(self) -> str | None:
        with self._lock:
            stat = self.path.stat()
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen != self._seen:
                self._token = self.path.read_text().strip()
                self._seen = seen
            return f"Bearer {self._token}" if self._token else None

    def invalidate(self) -> None:
        with self._lock:
            self._seen = None


@dataclass
class ExecPlugin:
    """An exec credential plugin (client.authentication.k8s.io): run it, use the token it
    prints until its expirationTimestamp (or a 401), then run it again."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    where: str = ""
    api_version: str = "client.authentication.k8s.io/v1"
    _token: str | None = field(default=None, repr=False)
    _expires: datetime | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def authorization(self) -> str | None:
        with self._lock:
            now = datetime.now(UTC)
            if self._token is None or (
                self._expires is not None and now >= self._expires - EXEC_EXPIRY_MARGIN
            ):
                self._token, self._expires = self._run()
            return f"Bearer {self._token}"

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _run(self) -> tuple[str, datetime | None]:
        # What client-go tells a plugin: never prompt (there is no terminal in a flow run).
        info: dict[str, object] = {
            "apiVersion": self.api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
        environment = {**os.environ, **dict(self.env), "KUBERNETES_EXEC_INFO": json.dumps(info)}
        try:
            done = subprocess.run(
                [self.command, *self.args],
                env=environment,
                capture_output=True,
                timeout=EXEC_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise KubeConfigError(
                f"{self.where}: the exec credential plugin {self.command!r} could not run "
                f"({error}); install it or fix users[].user.exec.command"
            ) from error
        if done.returncode != 0:
            raise KubeConfigError(
                f"{self.where}: the exec credential plugin {self.command!r} exited "
                f"{done.returncode}: {done.stderr.decode(errors='replace').strip()[:300]}"
            )
        return parse_exec_credential(done.stdout, self.where)


def parse_exec_credential(output: bytes, where: str) -> tuple[str, datetime | None]:
    """(token, expiry) from an ExecCredential a plugin printed."""
    try:
        status = json.loads(output).get("status") or {}
    except (ValueError, AttributeError) as error:
        raise KubeConfigError(
            f"{where}: the exec credential plugin printed no ExecCredential JSON ({error})"
        ) from error
    token = status.get("token")
    if not token:
        raise KubeConfigError(
            f"{where}: the exec credential plugin's ExecCredential has no status.token "
            "(client-certificate credentials from plugins are not supported by kflow execute)"
        )
    expiry = status.get("expirationTimestamp")
    if not expiry:
        return str(token), None
    try:
        expires = datetime.fromisoformat(str(expiry).replace("Z", "+00:00"))
    except ValueError as error:
        raise KubeConfigError(
            f"{where}: the exec credential's status.expirationTimestamp {expiry!r} is not an "
            "RFC 3339 time"
        ) from error
    return str(token), expires if expires.tzinfo else expires.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ClusterCredentials:
    """What a connection to the API server needs. PEM data is kept as bytes: `ssl` takes CA
    data directly; a client key pair given as data is written to a private temporary file
    only while the TLS context loads it."""

    server: str
    where: str
    ca_file: Path | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    proxy: str | None = None
    client_certificate: Path | bytes | None = None
    client_key: Path | bytes | None = None
    token: TokenSource | None = None


def load_credentials(context: str | None = None) -> ClusterCredentials:
    """In-cluster credentials when in a pod and no context is asked for, else the kubeconfig's."""
    if context is None and in_cluster():
        return in_cluster_credentials()
    return kubeconfig_credentials(kubeconfig_paths(), context)


def in_cluster_credentials(environ: Mapping[str, str] = os.environ) -> ClusterCredentials:
    host = environ["KUBERNETES_SERVICE_HOST"]
    port = environ.get("KUBERNETES_SERVICE_PORT", "443")
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return ClusterCredentials(
        server=server,
        where=f"in-cluster service account ({SERVICE_ACCOUNT_DIR})",
        ca_file=SERVICE_ACCOUNT_DIR / "ca.crt",
        token=TokenFile(SERVICE_ACCOUNT_DIR / "token"),
    )


@dataclass(frozen=True)
class _Named:
    """A cluster, user or context entry and the file that defined it."""

    body: dict[str, Any]
    source: Path


@dataclass
class MergedKubeconfig:
    clusters: dict[str, _Named] = field(default_factory=dict)
    users: dict[str, _Named] = field(default_factory=dict)
    contexts: dict[str, _Named] = field(default_factory=dict)
    current_context: str | None = None
    files: list[Path] = field(default_factory=list)


def merge_kubeconfigs(paths: list[Path]) -> MergedKubeconfig:
    """kubectl's merge: missing files are skipped; the first definition of a name wins."""
    merged = MergedKubeconfig()
    for path in paths:
        if not path.is_file():
            continue
        try:
            document = yaml.load(path.read_text(), Loader=SAFE_LOADER) or {}
        except (OSError, yaml.YAMLError) as error:
            raise KubeConfigError(
                f"kubeconfig {path} cannot be read ({error}); fix the file or KUBECONFIG"
            ) from error
        if not isinstance(document, dict):
            raise KubeConfigError(f"kubeconfig {path} is not a YAML mapping; fix the file")
        merged.files.append(path)
        for key, table, inner in (
            ("clusters", merged.clusters, "cluster"),
            ("users", merged.users, "user"),
            ("contexts", merged.contexts, "context"),
        ):
            for entry in document.get(key) or []:
                name = entry.get("name") if isinstance(entry, dict) else None
                if isinstance(name, str) and name not in table:
                    table[name] = _Named(dict(entry.get(inner) or {}), path)
        if merged.current_context is None and document.get("current-context"):
            merged.current_context = str(document["current-context"])
    return merged


def kubeconfig_credentials(paths: list[Path], context: str | None = None) -> ClusterCredentials:
    merged = merge_kubeconfigs(paths)
    looked = os.pathsep.join(str(p) for p in paths)
    if not merged.files:
        raise KubeConfigError(
            f"no usable Kubernetes configuration: not in a pod, and no kubeconfig file at "
            f"{looked}. Set KUBECONFIG (the kflow CLI also takes --context)."
        )
    name = context or merged.current_context
    if not name:
        raise KubeConfigError(
            f"kubeconfig {looked} sets no current-context; run `kubectl config use-context "
            "NAME` or pass --context"
        )
    chosen = merged.contexts.get(name)
    if chosen is None:
        known = ", ".join(sorted(merged.contexts)) or "none"
        raise KubeConfigError(
            f"kubeconfig {looked} has no context {name!r} (contexts: {known}); pick one with "
            "--context or `kubectl config use-context`"
        )
    where = f"context {name!r} of kubeconfig {chosen.source}"
    cluster = merged.clusters.get(str(chosen.body.get("cluster")))
    if cluster is None:
        raise KubeConfigError(
            f"{where} names cluster {chosen.body.get('cluster')!r}, which no kubeconfig file "
            "defines; add it under clusters:"
        )
    user_name = chosen.body.get("user")
    user = merged.users.get(str(user_name)) if user_name else None
    if user_name and user is None:
        raise KubeConfigError(
            f"{where} names user {user_name!r}, which no kubeconfig file defines; add it "
            "under users:"
        )
    if user is not None and any(user.body.get(f) for f in FALLBACK_USER_FIELDS):
        return _through_kubernetes_library(paths, name, where)
    return _credentials(cluster, user, where)


def _credentials(cluster: _Named, user: _Named | None, where: str) -> ClusterCredentials:
    body = cluster.body
    server = body.get("server")
    if not server:
        raise KubeConfigError(
            f"{where}: cluster has no server; set clusters[].cluster.server (https://host:port)"
        )
    user_body = user.body if user is not None else {}
    user_source = user.source if user is not None else cluster.source
    certificate = _pem(user_body, "client-certificate", user_source, where)
    key = _pem(user_body, "client-key", user_source, where)
    if (certificate is None) != (key is None):
        raise KubeConfigError(
            f"{where}: user has a client certificate without a key or a key without a "
            "certificate; set both client-certificate(-data) and client-key(-data)"
        )
    ca = _pem(body, "certificate-authority", cluster.source, where)
    return ClusterCredentials(
        server=str(server).rstrip("/"),
        where=where,
        ca_file=ca if isinstance(ca, Path) else None,
        ca_data=ca if isinstance(ca, bytes) else None,
        insecure=bool(body.get("insecure-skip-tls-verify")),
        tls_server_name=body.get("tls-server-name") or None,
        proxy=_proxy(body, where),
        client_certificate=certificate,
        client_key=key,
        token=_token_source(user_body, user_source, where),
    )


def _proxy(cluster: Mapping[str, Any], where: str) -> str | None:
    proxy = cluster.get("proxy-url")
    if not proxy:
        return None
    if not str(proxy).startswith("http://"):
        raise KubeConfigError(
            f"{where}: proxy-url {proxy!r} is not supported by kflow execute (only http:// "
            "proxies, reached with CONNECT); use an http:// proxy or none"
        )
    return str(proxy)


def _pem(body: Mapping[str, Any], key: str, source: Path, where: str) -> Path | bytes | None:
    data = body.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except ValueError as error:
            raise KubeConfigError(
                f"{where}: {key}-data is not valid base64 ({error}); it holds the "
                "base64 of the PEM file"
            ) from error
    path = body.get(key)
    if not path:
        return None
    resolved = _relative_to(source, str(path))
    if not resolved.is_file():
        raise KubeConfigError(f"{where}: {key} file {resolved} does not exist; fix {key}")
    return resolved


def _token_source(user: Mapping[str, Any], source: Path, where: str) -> TokenSource | None:
    if user.get("token"):
        return StaticToken(str(user["token"]))
    if user.get("tokenFile"):
        path = _relative_to(source, str(user["tokenFile"]))
        if not path.is_file():
            raise KubeConfigError(f"{where}: tokenFile {path} does not exist; fix tokenFile")
        return TokenFile(path)
    plugin = user.get("exec")
    if plugin:
        command = plugin.get("command")
        if not command:
            raise KubeConfigError(f"{where}: users[].user.exec has no command; set it")
        command = str(command)
        if os.sep in command and not Path(command).is_absolute():
            command = str(_relative_to(source, command))
        env = tuple((str(e.get("name")), str(e.get("value", ""))) for e in plugin.get("env") or [])
        args = tuple(str(a) for a in plugin.get("args") or [])
        version = str(plugin.get("apiVersion") or "client.authentication.k8s.io/v1")
        return ExecPlugin(command, args, env, where, version)
    return None


def _relative_to(source: Path, path: str) -> Path:
    expanded = Path(path).expanduser()
    return expanded if expanded.is_absolute() else source.parent / expanded


def _through_kubernetes_library(paths: list[Path], context: str, where: str) -> ClusterCredentials:
    """What the kubernetes library makes of the kubeconfig, for the credentials read here."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.pathsep.join(str(p) for p in paths if p.is_file()),
            context=context,
            client_configuration=configuration,
        )
    except ConfigException as error:
        raise KubeConfigError(f"{where}: {error}; fix the kubeconfig") from error
    ca = getattr(configuration, "ssl_ca_cert", None)
    certificate = getattr(configuration, "cert_file", None)
    key = getattr(configuration, "key_file", None)
    return ClusterCredentials(
        server=str(configuration.host).rstrip("/"),
        where=where,
        ca_file=Path(ca) if ca else None,
        insecure=not configuration.verify_ssl,
        tls_server_name=getattr(configuration, "tls_server_name", None) or None,
        proxy=getattr(configuration, "proxy", None) or None,
        client_certificate=Path(certificate) if certificate else None,
        client_key=Path(key) if key else None,
        token=_LibraryToken(configuration),
    )


@dataclass
class _LibraryToken:
    """The kubernetes library's own credential, refreshed by its own hooks."""

    configuration: Any

    def authorization(self) -> str | None:
        # The library keeps "Bearer …" or "Basic …" whole under BearerToken (and runs its own
        # refresh hook, e.g. an auth-provider's, in this call).
        header = self.configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        return str(header) if header else None

    def invalidate(self) -> None:
        return None
