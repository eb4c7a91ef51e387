"""How `kflow execute` finds the API server and its credentials, kubectl's way."""

from __future__ import annotations

import base64
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kflow.cluster.credentials import (
    ExecPlugin,
    KubeConfigError,
    StaticToken,
    TokenFile,
    in_cluster_credentials,
    kubeconfig_credentials,
    parse_exec_credential,
)

CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_config(
    path: Path,
    clusters: dict[str, dict[str, Any]] | None = None,
    users: dict[str, dict[str, Any]] | None = None,
    contexts: dict[str, dict[str, Any]] | None = None,
    current: str | None = None,
) -> Path:
    document: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    if clusters is not None:
        document["clusters"] = [{"name": n, "cluster": c} for n, c in clusters.items()]
    if users is not None:
        document["users"] = [{"name": n, "user": u} for n, u in users.items()]
    if contexts is not None:
        document["contexts"] = [{"name": n, "context": c} for n, c in contexts.items()]
    if current is not None:
        document["current-context"] = current
    path.write_text(yaml.safe_dump(document))
    return path


def single(tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    return write_config(
        tmp_path / "config",
        {"c": cluster},
        {"u": user},
        {"ctx": {"cluster": "c", "user": "u"}},
        "ctx",
    )


def test_token_and_ca_data_of_the_current_context(tmp_path: Path) -> None:
    path = single(
        tmp_path,
        {"server": "https://10.0.0.1:6443/", "certificate-authority-data": b64(CA_PEM)},
        {"token": "secret"},
    )
    found = kubeconfig_credentials([path])
    assert found.server == "https://10.0.0.1:6443"
    assert found.ca_data == CA_PEM
    assert found.token == StaticToken("secret")
    assert found.token.authorization() == "Bearer secret"
    assert not found.insecure
    assert "'ctx'" in found.where and str(path) in found.where


def test_relative_files_resolve_against_the_kubeconfig_that_names_them(tmp_path: Path) -> None:
    directory = tmp_path / "conf"
    directory.mkdir()
    for name in ("ca.crt", "client.crt", "client.key", "token"):
        (directory / name).write_text("x\n")
    path = single(
        directory,
        {
            "server": "https://api:6443",
            "certificate-authority": "ca.crt",
            "insecure-skip-tls-verify": True,
            "tls-server-name": "kubernetes.default",
        },
        {"client-certificate": "client.crt", "client-key": "client.key", "tokenFile": "token"},
    )
    found = kubeconfig_credentials([path])
    assert found.ca_file == directory / "ca.crt"
    assert found.insecure
    assert found.tls_server_name == "kubernetes.default"
    assert found.client_certificate == directory / "client.crt"
    assert found.client_key == directory / "client.key"
    assert isinstance(found.token, TokenFile)


def test_client_certificate_and_key_data_are_decoded(tmp_path: Path) -> None:
    path = single(
        tmp_path,
        {"server": "https://api:6443"},
        {"client-certificate-data": b64(b"CERT"), "client-key-data": b64(b"KEY")},
    )
    found = kubeconfig_credentials([path])
    assert (found.client_certificate, found.client_key, found.token) == (b"CERT", b"KEY", None)


def test_merged_files_first_definition_and_first_current_context_win(tmp_path: Path) -> None:
    first = write_config(
        tmp_path / "first",
        clusters={"shared": {"server": "https://first:6443"}},
        users={"me": {"token": "first-token"}},
        current="second-ctx",
    )
    second = write_config(
        tmp_path / "second",
        clusters={"shared": {"server": "https://second:6443"}},
        users={"me": {"token": "second-token"}},
        contexts={
            "second-ctx": {"cluster": "shared", "user": "me"},
            "other": {"cluster": "shared"},
        },
        current="other",
    )
    missing = tmp_path / "does-not-exist"
    found = kubeconfig_credentials([missing, first, second])
    assert found.server == "https://first:6443"
    assert found.token == StaticToken("first-token")
    explicit = kubeconfig_credentials([first, second], context="other")
    assert explicit.token is None
    assert str(second) in explicit.where


def test_no_file_at_all_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="Set KUBECONFIG") as raised:
        kubeconfig_credentials([tmp_path / "nothing"])
    assert str(tmp_path / "nothing") in str(raised.value)


def test_unknown_context_lists_the_known_ones(tmp_path: Path) -> None:
    path = single(tmp_path, {"server": "https://api:6443"}, {"token": "t"})
    with pytest.raises(KubeConfigError, match=r"no context 'prod' \(contexts: ctx\)"):
        kubeconfig_credentials([path], context="prod")


def test_no_current_context(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config", clusters={"c": {"server": "https://api"}})
    with pytest.raises(KubeConfigError, match="current-context"):
        kubeconfig_credentials([path])


@pytest.mark.parametrize(
    ("cluster", "user", "message"),
    [
        ({}, {"token": "t"}, "cluster has no server"),
        ({"server": "https://a", "certificate-authority": "nope.crt"}, {}, "certificate-authority"),
        ({"server": "https://a", "certificate-authority-data": "***"}, {}, "not valid base64"),
        ({"server": "https://a"}, {"client-certificate-data": b64(b"C")}, "without a key"),
        ({"server": "https://a"}, {"tokenFile": "missing-token"}, "tokenFile"),
        ({"server": "https://a"}, {"exec": {"args": ["x"]}}, "exec has no command"),
    ],
)
def test_broken_entries_name_the_field(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], message: str
) -> None:
    path = single(tmp_path, cluster, user)
    with pytest.raises(KubeConfigError, match=message) as raised:
        kubeconfig_credentials([path])
    assert "context 'ctx'" in str(raised.value)


def test_context_naming_an_undefined_user(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "config",
        {"c": {"server": "https://a"}},
        {},
        {"ctx": {"cluster": "c", "user": "ghost"}},
        "ctx",
    )
    with pytest.raises(KubeConfigError, match="user 'ghost'"):
        kubeconfig_credentials([path])


def test_a_malformed_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("clusters: [unclosed")
    with pytest.raises(KubeConfigError, match=str(path)):
        kubeconfig_credentials([path])


def test_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("one\n")
    source = TokenFile(path)
    assert source.authorization() == "Bearer one"
    replacement = tmp_path / "token.new"
    replacement.write_text("two-rotated\n")
    os.replace(replacement, path)  # how the kubelet swaps a projected token
    assert source.authorization() == "Bearer two-rotated"


def test_in_cluster_uses_the_service_environment() -> None:
    found = in_cluster_credentials(
        {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    )
    assert found.server == "https://[fd00::1]:443"
    assert isinstance(found.token, TokenFile)
    assert found.ca_file is not None and found.ca_file.name == "ca.crt"


def test_exec_plugin_from_the_docker_launchers_kubeconfig(tmp_path: Path) -> None:
    credential = tmp_path / "credential.json"
    later = datetime(2999, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    credential.write_text(json.dumps({"status": {"token": "tok-1", "expirationTimestamp": later}}))
    path = single(
        tmp_path,
        {"server": "https://api:6443", "certificate-authority-data": b64(CA_PEM)},
        {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": "cat",
                "args": [str(credential)],
                "interactiveMode": "Never",
            }
        },
    )
    found = kubeconfig_credentials([path])
    assert isinstance(found.token, ExecPlugin)
    assert found.token.authorization() == "Bearer tok-1"
    credential.write_text(json.dumps({"status": {"token": "tok-2", "expirationTimestamp": later}}))
    assert found.token.authorization() == "Bearer tok-1"  # still valid: not run again
    found.token.invalidate()  # what a 401 does
    assert found.token.authorization() == "Bearer tok-2"


def test_exec_plugin_runs_again_once_its_credential_expires(tmp_path: Path) -> None:
    script = tmp_path / "plugin.py"
    counter = tmp_path / "runs"
    script.write_text(
        "import json, pathlib\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "print(json.dumps({'status': {'token': f'tok-{n}',"
        " 'expirationTimestamp': '2000-01-01T00:00:00Z'}}))\n"
    )
    plugin = ExecPlugin(sys.executable, (str(script),), where="test")
    assert plugin.authorization() == "Bearer tok-1"
    assert plugin.authorization() == "Bearer tok-2"


def test_exec_plugin_failure_names_the_plugin(tmp_path: Path) -> None:
    plugin = ExecPlugin(str(tmp_path / "no-such-plugin"), where="context 'ctx'")
    with pytest.raises(KubeConfigError, match="no-such-plugin"):
        plugin.authorization()
    failing = ExecPlugin(sys.executable, ("-c", "import sys; sys.exit('denied')"), where="here")
    with pytest.raises(KubeConfigError, match="exited 1: denied"):
        failing.authorization()


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (b"not json", "no ExecCredential JSON"),
        (b'{"status": {}}', "no status.token"),
        (b'{"status": {"token": "t", "expirationTimestamp": "soon"}}', "RFC 3339"),
    ],
)
def test_bad_exec_credentials(output: bytes, message: str) -> None:
    with pytest.raises(KubeConfigError, match=message):
        parse_exec_credential(output, "here")


def test_exec_credential_without_expiry_never_expires() -> None:
    assert parse_exec_credential(b'{"status": {"token": "t"}}', "here") == ("t", None)


def test_basic_auth_goes_through_the_kubernetes_library(tmp_path: Path) -> None:
    path = single(
        tmp_path,
        {"server": "https://api:6443", "insecure-skip-tls-verify": True},
        {"username": "admin", "password": "pw"},
    )
    found = kubeconfig_credentials([tmp_path / "absent", path])
    assert found.server == "https://api:6443"
    assert found.insecure
    assert found.token is not None
    assert found.token.authorization() == "Basic " + b64(b"admin:pw")
