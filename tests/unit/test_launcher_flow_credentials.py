"""Per-run credentials of Docker flows: the kubeconfig they get (the operator's API server and
CA, a token of the flow ServiceAccount through an exec plugin), and the refresh schedule that
lets a long flow outlive its first token."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from kflow_operator.launchers.flow_credentials import (
    CONTAINER_DIR,
    CREDENTIAL_FILE,
    KUBECONFIG_FILE,
    client_expiry,
    cluster_entry,
    credentials_archive,
    exec_credential,
    refresh_due,
    run_kubeconfig,
)
from kubernetes import client, config

ISSUED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
EXPIRES = ISSUED + timedelta(hours=6)
CLUSTER = {"server": "https://192.0.2.2:6443", "certificate-authority-data": "Q0E="}


def operator_kubeconfig() -> dict[str, Any]:
    return {
        "clusters": [
            {"name": "other", "cluster": {"server": "https://other:6443"}},
            {"name": "local", "cluster": CLUSTER},
        ],
        "contexts": [
            {"name": "admin@local", "context": {"cluster": "local", "user": "admin"}},
            {"name": "admin@other", "context": {"cluster": "other", "user": "admin"}},
        ],
        "users": [{"name": "admin", "user": {"client-key-data": "secret"}}],
        "current-context": "admin@local",
    }


def test_containers_reach_the_api_server_the_operator_uses_but_never_get_its_user() -> None:
    assert cluster_entry(operator_kubeconfig()) == CLUSTER
    assert cluster_entry(operator_kubeconfig(), "admin@other")["server"] == "https://other:6443"
    kubeconfig = run_kubeconfig(cluster_entry(operator_kubeconfig()), "team")
    assert "secret" not in json.dumps(kubeconfig)
    (user,) = kubeconfig["users"]
    assert user["name"] == "kflow-flow-run"
    assert user["user"]["exec"]["command"] == "cat"
    assert user["user"]["exec"]["args"] == ["/var/run/kflow/credential.json"]
    assert kubeconfig["contexts"][0]["context"]["namespace"] == "team"


def test_a_kubeconfig_without_the_current_context_is_refused_with_its_name() -> None:
    broken = {**operator_kubeconfig(), "current-context": "gone"}
    with pytest.raises(ValueError, match="'gone'"):
        cluster_entry(broken)


def test_the_operator_renews_at_half_life_and_the_client_rereads_at_three_quarters() -> None:
    assert not refresh_due(ISSUED, EXPIRES, ISSUED + timedelta(hours=2, minutes=59))
    assert refresh_due(ISSUED, EXPIRES, ISSUED + timedelta(hours=3))
    assert client_expiry(ISSUED, EXPIRES) == ISSUED + timedelta(hours=4, minutes=30)
    credential = exec_credential("t0k3n", ISSUED, EXPIRES)
    assert credential["kind"] == "ExecCredential"
    assert credential["status"] == {"token": "t0k3n", "expirationTimestamp": "2026-01-01T16:30:00Z"}


def test_the_kubernetes_client_rereads_an_expired_credential_and_takes_the_new_token(
    tmp_path: Path,
) -> None:
    """What makes refresh work without touching the flow: the Python client (as kubectl and
    client-go) runs the exec plugin again once the credential it printed has expired."""
    path = tmp_path / "credential.json"
    now = datetime.now(UTC)

    def write(token: str, issued: datetime) -> None:
        path.write_text(json.dumps(exec_credential(token, issued, issued + timedelta(hours=6))))

    write("first", now - timedelta(hours=5))  # past its client expiry already
    configuration = client.Configuration()
    config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
        run_kubeconfig(CLUSTER, "team", credential=str(path)),
        client_configuration=configuration,
    )
    assert configuration.get_api_key_with_prefix("BearerToken") == "Bearer first"
    write("renewed", now)  # what the operator does at half life; read at the next request
    assert configuration.get_api_key_with_prefix("BearerToken") == "Bearer renewed"
    write("later", now)
    assert configuration.get_api_key_with_prefix("BearerToken") == "Bearer renewed", (
        "a credential that has not expired is not read again"
    )


def test_the_credential_archive_unpacks_at_the_container_directory(tmp_path: Path) -> None:
    """What put_archive copies into CONTAINER_DIR's parent: the directory and both files,
    readable by any user the image runs as."""
    (tmp_path / KUBECONFIG_FILE).write_text("kubeconfig")
    (tmp_path / CREDENTIAL_FILE).write_text("{}")
    with tarfile.open(fileobj=io.BytesIO(credentials_archive(tmp_path))) as archive:
        members = {member.name: member for member in archive.getmembers()}
        assert sorted(members) == ["kflow", "kflow/credential.json", "kflow/kubeconfig"]
        assert members["kflow"].isdir() and members["kflow"].mode == 0o755
        assert members["kflow/kubeconfig"].mode == 0o644
        kubeconfig = archive.extractfile("kflow/kubeconfig")
        assert kubeconfig is not None and kubeconfig.read() == b"kubeconfig"
    assert PurePosixPath(CONTAINER_DIR).name == "kflow"
