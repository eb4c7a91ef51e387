"""`kflow worker start`: the operator's command line it runs, and the mistakes it refuses in
words (no traceback)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from kflow.cli import main
from kflow.cli.worker import operator_command


def test_a_worker_is_the_operator_for_its_pools_in_one_namespace() -> None:
    assert operator_command(
        ["gpu", "laptop", "gpu"], "team-a", ["--", "--launchers", "process"]
    ) == [
        sys.executable,
        "-m",
        "kflow_operator",
        "--namespace",
        "team-a",
        "--work-pool",
        "gpu",
        "--work-pool",
        "laptop",
        "--launchers",
        "process",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pool", "GPU"], "--pool 'GPU' is not a work pool name: lower-case letters"),
        (["--pool", "p", "--", "-A"], "drop -A/--all-namespaces/--work-pool"),
        (["--pool", "p", "--", "--work-pool", "q"], "drop -A/--all-namespaces/--work-pool"),
    ],
)
def test_a_wrong_worker_command_says_what_to_change(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", "start", "-n", "ns", *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_worker_needs_a_pool(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["worker", "start", "-n", "ns"])
    assert stopped.value.code == 2
    assert "--pool" in capsys.readouterr().err


def test_a_worker_without_any_kube_configuration_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setattr("kflow.cluster.kubernetes_client.in_cluster", lambda: False)

    def no_exec(*_: object) -> None:
        raise AssertionError("the operator must not start without a configuration")

    monkeypatch.setattr(os, "execv", no_exec)
    assert main(["worker", "start", "--pool", "p", "-n", "ns"]) == 1
    err = capsys.readouterr().err
    assert "error: no usable Kubernetes configuration" in err and "Traceback" not in err
