"""Kubeconfig files for the admin user and each component, with certificates embedded.

Embedding (rather than pointing at files) keeps the admin kubeconfig usable from any working
directory and by clients that resolve relative paths differently.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

from tests.cluster import certs, paths, topology


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def path_for(spec: certs.CertSpec) -> Path:
    if spec is certs.ADMIN:
        return paths.admin_kubeconfig()
    return paths.state_dir() / "kubeconfigs" / f"{spec.name}.kubeconfig"


def ensure_kubeconfig(spec: certs.CertSpec) -> Path:
    """Write (always, it is cheap) so the file never disagrees with the PKI on disk."""
    target = path_for(spec)
    certs.ensure_cert(spec)
    user = spec.common_name
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kflow-local",
                "cluster": {
                    "server": topology.APISERVER_URL,
                    "certificate-authority-data": _b64(certs.ca_cert()),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(certs.cert(spec)),
                    "client-key-data": _b64(certs.key(spec)),
                },
            }
        ],
        "contexts": [{"name": "kflow-local", "context": {"cluster": "kflow-local", "user": user}}],
        "current-context": "kflow-local",
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")  # racing writers
    partial.write_text(yaml.safe_dump(config, sort_keys=False))
    partial.chmod(0o600)
    partial.rename(target)
    return target
