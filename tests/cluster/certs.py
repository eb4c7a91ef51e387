"""The cluster's PKI, made with the openssl command line (one CA, client/server certs).

EC P-256 keys keep generation fast; everything Kubernetes reads accepts them. The PKI lives
in the cache, not the state directory: it survives `down`, so a kubeconfig exported once keeps
working across restarts and clients holding the old CA stay valid.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster import paths, topology


def pki_dir() -> Path:
    return paths.cache_root() / "pki"


@dataclass(frozen=True)
class CertSpec:
    name: str
    common_name: str
    organization: str | None = None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    usages: tuple[str, ...] = field(default=("clientAuth",))


API_SERVER = CertSpec(
    "apiserver",
    "kube-apiserver",
    dns_names=(
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{topology.CLUSTER_DOMAIN}",
        "localhost",
    ),
    ip_addresses=("127.0.0.1", topology.KUBERNETES_SERVICE_IP, topology.NODE_IP),
    usages=("serverAuth",),
)
ADMIN = CertSpec("admin", "kubernetes-admin", "system:masters")
APISERVER_KUBELET_CLIENT = CertSpec(
    "apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"
)
CONTROLLER_MANAGER = CertSpec("controller-manager", "system:kube-controller-manager")
SCHEDULER = CertSpec("scheduler", "system:kube-scheduler")
KUBE_PROXY = CertSpec("kube-proxy", "system:kube-proxy")
KUBELET_CLIENT = CertSpec("kubelet-client", f"system:node:{topology.NODE_NAME}", "system:nodes")
KUBELET_SERVING = CertSpec(
    "kubelet-serving",
    f"system:node:{topology.NODE_NAME}",
    "system:nodes",
    dns_names=(topology.NODE_NAME,),
    ip_addresses=(topology.NODE_IP,),
    usages=("serverAuth",),
)
CONTROL_PLANE_CERTS = (API_SERVER, ADMIN, APISERVER_KUBELET_CLIENT, CONTROLLER_MANAGER, SCHEDULER)
NODE_CERTS = (KUBE_PROXY, KUBELET_CLIENT, KUBELET_SERVING)


def ca_cert() -> Path:
    return pki_dir() / "ca.crt"


def cert(spec: CertSpec) -> Path:
    return pki_dir() / f"{spec.name}.crt"


def key(spec: CertSpec) -> Path:
    return pki_dir() / f"{spec.name}.key"


def sa_private_key() -> Path:
    return pki_dir() / "sa.key"


def sa_public_key() -> Path:
    return pki_dir() / "sa.pub"


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")


def _ec_key(path: Path) -> None:
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )
    path.chmod(0o600)


def _subject(spec: CertSpec) -> str:
    org = f"/O={spec.organization}" if spec.organization else ""
    return f"{org}/CN={spec.common_name}"


def ensure_ca() -> None:
    pki_dir().mkdir(parents=True, exist_ok=True)
    ca_key = pki_dir() / "ca.key"
    if not ca_cert().exists():
        _ec_key(ca_key)
        _openssl(
            "req",
            "-x509",
            "-new",
            "-key",
            str(ca_key),
            "-subj",
            "/CN=kflow-local-ca",
            "-days",
            "3650",
            "-out",
            str(ca_cert()),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )
    if not sa_private_key().exists():
        _openssl(
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            str(sa_private_key()),
        )
        _openssl("pkey", "-in", str(sa_private_key()), "-pubout", "-out", str(sa_public_key()))


def ensure_cert(spec: CertSpec) -> None:
    if cert(spec).exists() and key(spec).exists():
        return
    ensure_ca()
    _ec_key(key(spec))
    csr = pki_dir() / f"{spec.name}.csr"
    extfile = pki_dir() / f"{spec.name}.ext"
    alt_names = [f"DNS:{d}" for d in spec.dns_names] + [f"IP:{ip}" for ip in spec.ip_addresses]
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={','.join(spec.usages)}",
    ]
    if alt_names:
        lines.append(f"subjectAltName={','.join(alt_names)}")
    extfile.write_text("\n".join(lines) + "\n")
    _openssl("req", "-new", "-key", str(key(spec)), "-subj", _subject(spec), "-out", str(csr))
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_cert()),
        "-CAkey",
        str(pki_dir() / "ca.key"),
        "-CAcreateserial",
        "-days",
        "825",
        "-extfile",
        str(extfile),
        "-out",
        str(cert(spec)),
    )
    csr.unlink()
    extfile.unlink()
