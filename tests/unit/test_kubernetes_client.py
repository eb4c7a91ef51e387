"""The Kubernetes client follows KUBECONFIG as it is when a connection is made, not as it was
when the library was first imported (it freezes its default path then): a script, a notebook
or a test that sets KUBECONFIG later reaches the cluster it names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kflow.cluster.kubernetes_client import default_namespace, new_api_client


def write_kubeconfig(path: Path, server: str, namespace: str) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "x", "context": {"cluster": "c", "user": "u", "namespace": namespace}}
                ],
                "current-context": "x",
            }
        )
    )


def test_a_kubeconfig_named_after_import_is_the_one_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kubernetes.config  # noqa: F401  (imported, and its default path frozen, first)

    path = tmp_path / "later.kubeconfig"
    write_kubeconfig(path, "http://127.0.0.1:1", "set-later")
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert new_api_client().configuration.host == "http://127.0.0.1:1"
    assert default_namespace() == "set-later"
