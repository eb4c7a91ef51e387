"""An etcd and a kube-apiserver of the chaos test's own, on 127.0.0.1 ports picked at start.

A fault test stops and restarts these processes for real. They are the project's own
binaries and PKI (tests/cluster), but never the shared local cluster: other tests, and other
people's sessions, keep their API server while a chaos test takes this one away.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.cluster import certs, k8s_build, packages, topology
from tests.support.waiting import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    """One child process, its command kept so that it can be started again after a fault."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.popen is None or self.popen.poll() is not None, f"{self.name} still runs"
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill(self) -> None:
        """SIGKILL, as a crash or a node losing power would."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, as an upgrade or a restart would; SIGKILL after 20 s."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class PrivateControlPlane:
    root: Path
    etcd: Daemon = field(init=False)
    apiserver: Daemon = field(init=False)
    port: int = field(init=False)

    def __post_init__(self) -> None:
        certs.ensure_ca()  # also the service-account keys
        for spec in (certs.API_SERVER, certs.ADMIN):
            certs.ensure_cert(spec)
        self.port = free_port()
        client_url = f"http://127.0.0.1:{free_port()}"
        peer_url = f"http://127.0.0.1:{free_port()}"
        data = self.root / "etcd"
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        self.etcd = Daemon(
            "etcd",
            [
                str(packages.etcd_binary()),
                "--name=chaos",
                f"--data-dir={data}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=chaos={peer_url}",
                "--listen-metrics-urls=",
                "--unsafe-no-fsync",
            ],
            self.root / "etcd.log",
        )
        self.apiserver = Daemon(
            "kube-apiserver",
            [
                str(k8s_build.binary("kube-apiserver")),
                f"--etcd-servers={client_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--cert-dir={self.root / 'pki'}",
                f"--tls-cert-file={certs.cert(certs.API_SERVER)}",
                f"--tls-private-key-file={certs.key(certs.API_SERVER)}",
                f"--client-ca-file={certs.ca_cert()}",
                "--authorization-mode=RBAC",
                f"--service-cluster-ip-range={topology.SERVICE_CIDR}",
                f"--service-account-issuer={topology.SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={certs.sa_public_key()}",
                f"--service-account-signing-key-file={certs.sa_private_key()}",
                "--profiling=false",
                "--v=0",
            ],
            self.root / "kube-apiserver.log",
        )
        self.kubeconfig = self.root / "admin.kubeconfig"
        self._write_kubeconfig()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.etcd.start()
        self.start_apiserver()

    def start_apiserver(self) -> None:
        self.apiserver.start()
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        def ready() -> bool:
            for daemon in (self.etcd, self.apiserver):
                if daemon.popen is not None and daemon.popen.poll() is not None:
                    raise RuntimeError(
                        f"{daemon.name} exited with {daemon.popen.returncode}:\n"
                        + daemon.log_path.read_text(errors="replace")[-3000:]
                    )
            return self.ready()

        wait_until("the private kube-apiserver /readyz", ready, timeout, 0.1)

    def ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(certs.ca_cert()))
        context.load_cert_chain(str(certs.cert(certs.ADMIN)), str(certs.key(certs.ADMIN)))
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", context=context, timeout=2) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def close(self) -> None:
        self.apiserver.stop()
        self.etcd.stop()
        shutil.rmtree(self.root / "etcd", ignore_errors=True)

    def kubeconfig_via(self, port: int) -> Path:
        """A copy of the admin kubeconfig that reaches the API server through 127.0.0.1:`port`
        (a proxy the test controls)."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
        target = self.root / f"via-{port}.kubeconfig"
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        os.chmod(target, 0o600)
        return target

    def _write_kubeconfig(self) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "chaos",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": b64(certs.ca_cert()),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": b64(certs.cert(certs.ADMIN)),
                        "client-key-data": b64(certs.key(certs.ADMIN)),
                    },
                }
            ],
            "contexts": [{"name": "chaos", "context": {"cluster": "chaos", "user": "admin"}}],
            "current-context": "chaos",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        os.chmod(self.kubeconfig, 0o600)
