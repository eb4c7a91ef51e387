"""Where the harness keeps its caches and its running state.

Caches (binaries, images) survive `down`; state (certificates, etcd data, PIDs, logs) is
what `down` removes. Both live outside the clone so several clones share one build.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.cluster.versions import KUBERNETES_VERSION


def cache_root() -> Path:
    """`$KFLOW_CACHE_DIR`, else `$XDG_CACHE_HOME/kflow`, else `~/.cache/kflow`."""
    explicit = os.environ.get("KFLOW_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kflow"


def k8s_dir() -> Path:
    return cache_root() / "k8s" / KUBERNETES_VERSION


def k8s_bin_dir() -> Path:
    return k8s_dir() / "bin"


def go_env_dir() -> Path:
    return cache_root() / "go"


def tools_dir() -> Path:
    return cache_root() / "tools"


def images_dir() -> Path:
    return cache_root() / "images"


def state_dir() -> Path:
    """Everything a running cluster owns; removed by `down`."""
    return cache_root() / "cluster"


def admin_kubeconfig() -> Path:
    return state_dir() / "admin.kubeconfig"
