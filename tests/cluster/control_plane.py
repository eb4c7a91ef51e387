"""Tier 1: etcd, kube-apiserver, kube-controller-manager and kube-scheduler on this host."""

from __future__ import annotations

import shutil
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from tests.cluster import certs, k8s_build, kubeconfigs, network, packages, paths, topology
from tests.cluster.processes import Managed, wait_for

ETCD = Managed("etcd", lambda: str(packages.etcd_path()))
APISERVER = Managed("kube-apiserver", lambda: str(k8s_build.binary("kube-apiserver")))
CONTROLLER_MANAGER = Managed(
    "kube-controller-manager", lambda: str(k8s_build.binary("kube-controller-manager"))
)
SCHEDULER = Managed("kube-scheduler", lambda: str(k8s_build.binary("kube-scheduler")))
PROCESSES = (ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER)


def etcd_data_dir() -> Path:
    return paths.state_dir() / "etcd"


def _etcd_healthy() -> bool:
    try:
        with urllib.request.urlopen(f"{topology.ETCD_CLIENT_URL}/health", timeout=2) as resp:
            return b'"true"' in resp.read()
    except (OSError, urllib.error.URLError):
        return False


def _tls_get(path: str) -> bool:
    """GET a path on the API server as admin; True on HTTP 200 with body `ok`."""
    context = ssl.create_default_context(cafile=str(certs.ca_cert()))
    context.load_cert_chain(str(certs.cert(certs.ADMIN)), str(certs.key(certs.ADMIN)))
    try:
        with urllib.request.urlopen(
            f"{topology.APISERVER_URL}{path}", context=context, timeout=3
        ) as resp:
            return bool(resp.status == 200 and resp.read().strip() == b"ok")
    except (OSError, urllib.error.URLError):
        return False


def apiserver_ready() -> bool:
    return _tls_get("/readyz")


def _start_etcd() -> None:
    if ETCD.running() and _etcd_healthy():
        return
    etcd = packages.etcd_binary()
    etcd_data_dir().mkdir(parents=True, exist_ok=True)
    etcd_data_dir().chmod(0o700)
    ETCD.start(
        [
            str(etcd),
            "--name=kflow",
            f"--data-dir={etcd_data_dir()}",
            f"--listen-client-urls={topology.ETCD_CLIENT_URL}",
            f"--advertise-client-urls={topology.ETCD_CLIENT_URL}",
            f"--listen-peer-urls={topology.ETCD_PEER_URL}",
            f"--initial-advertise-peer-urls={topology.ETCD_PEER_URL}",
            f"--initial-cluster=kflow={topology.ETCD_PEER_URL}",
            "--listen-metrics-urls=",
            "--quota-backend-bytes=2147483648",
            "--unsafe-no-fsync",
        ]
    )
    wait_for("etcd /health", _etcd_healthy, timeout=30, process=ETCD)


def _start_apiserver() -> None:
    if APISERVER.running() and apiserver_ready():
        return
    pki = certs.pki_dir()
    APISERVER.start(
        [
            str(k8s_build.binary("kube-apiserver")),
            f"--etcd-servers={topology.ETCD_CLIENT_URL}",
            f"--bind-address={topology.NODE_IP}",
            f"--advertise-address={topology.NODE_IP}",
            f"--secure-port={topology.APISERVER_PORT}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={certs.cert(certs.API_SERVER)}",
            f"--tls-private-key-file={certs.key(certs.API_SERVER)}",
            f"--client-ca-file={certs.ca_cert()}",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={topology.SERVICE_CIDR}",
            f"--service-account-issuer={topology.SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={certs.sa_public_key()}",
            f"--service-account-signing-key-file={certs.sa_private_key()}",
            f"--kubelet-client-certificate={certs.cert(certs.APISERVER_KUBELET_CLIENT)}",
            f"--kubelet-client-key={certs.key(certs.APISERVER_KUBELET_CLIENT)}",
            f"--kubelet-certificate-authority={certs.ca_cert()}",
            "--kubelet-preferred-address-types=InternalIP",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ]
    )
    wait_for("kube-apiserver /readyz", apiserver_ready, timeout=90, process=APISERVER)


def _start_controller_manager() -> None:
    if CONTROLLER_MANAGER.running():
        return
    kubeconfig = kubeconfigs.ensure_kubeconfig(certs.CONTROLLER_MANAGER)
    CONTROLLER_MANAGER.start(
        [
            str(k8s_build.binary("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=10257",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={certs.sa_private_key()}",
            f"--root-ca-file={certs.ca_cert()}",
            f"--cluster-signing-cert-file={certs.ca_cert()}",
            f"--cluster-signing-key-file={certs.pki_dir() / 'ca.key'}",
            f"--service-cluster-ip-range={topology.SERVICE_CIDR}",
            "--controllers=*,-cloud-node-lifecycle-controller",
            "--profiling=false",
            "--v=1",
        ]
    )


def _start_scheduler() -> None:
    if SCHEDULER.running():
        return
    kubeconfig = kubeconfigs.ensure_kubeconfig(certs.SCHEDULER)
    SCHEDULER.start(
        [
            str(k8s_build.binary("kube-scheduler")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=10259",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ]
    )


def up() -> Path:
    """Bring tier 1 up (idempotent) and return the admin kubeconfig path."""
    packages.ensure_installed(("openssl", "iptables"))
    k8s_build.ensure_built(k8s_build.CONTROL_PLANE_COMPONENTS)
    network.ensure_node_address()
    for spec in certs.CONTROL_PLANE_CERTS:
        certs.ensure_cert(spec)
    admin = kubeconfigs.ensure_kubeconfig(certs.ADMIN)
    _start_etcd()
    _start_apiserver()
    _start_controller_manager()
    _start_scheduler()
    return admin


def down() -> list[str]:
    """Stop tier 1's daemons (scheduler first, etcd last); return the names stopped."""
    stopped = [p.name for p in reversed(PROCESSES) if p.stop()]
    shutil.rmtree(etcd_data_dir(), ignore_errors=True)
    return stopped
