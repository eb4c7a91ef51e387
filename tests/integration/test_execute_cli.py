"""The `kflow` CLI against a real API server: deployment ls|run, flow-run ls|inspect|cancel|
resume|logs, and the choice between the cluster and the local history."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration

KFLOW = Path(sys.executable).parent / "kflow"


def kflow(
    *args: str, kubeconfig: Path | None, home: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(HOME=str(home), KFLOW_HOME=str(home / ".kflow"))
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [str(KFLOW), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    made = tmp_path / "home"
    made.mkdir()
    return made


def deployment_spec() -> dict[str, Any]:
    return {
        "entrypoint": "flows.py:sums",
        "parameters": {"n": 1},
        "infrastructure": {"type": "process"},
    }


def test_deployment_ls_and_run_create_a_flow_run_with_parsed_parameters(
    cluster: Cluster, kubeconfig: Path, home: Path
) -> None:
    cluster.deployment("etl", deployment_spec())
    listed = kflow("deployment", "ls", "-n", cluster.namespace, kubeconfig=kubeconfig, home=home)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split()[:2] == ["NAME", "ENTRYPOINT"]
    assert "etl" in listed.stdout and "flows.py:sums" in listed.stdout
    ran = kflow(
        "deployment",
        "run",
        "etl",
        "-n",
        cluster.namespace,
        "-p",
        "n=3",
        "-p",
        "label=Ann",
        "-p",
        "xs=[1, 2]",
        "-p",
        'quoted="3"',
        kubeconfig=kubeconfig,
        home=home,
    )
    assert ran.returncode == 0, ran.stderr
    name = ran.stdout.strip()
    assert name.startswith("etl-")
    created = cluster.get_flowrun(name)
    assert created["spec"]["deploymentRef"] == {"name": "etl"}
    assert created["spec"]["parameters"] == {"n": 3, "label": "Ann", "xs": [1, 2], "quoted": "3"}


def test_deployment_run_of_a_missing_deployment_says_so(
    cluster: Cluster, kubeconfig: Path, home: Path
) -> None:
    ran = kflow(
        "deployment", "run", "ghost", "-n", cluster.namespace, kubeconfig=kubeconfig, home=home
    )
    assert ran.returncode == 1
    assert f"Deployment 'ghost' not found in namespace {cluster.namespace}" in ran.stderr
    bad = kflow(
        "deployment", "run", "ghost", "-n", cluster.namespace, "-p", "novalue",
        kubeconfig=kubeconfig, home=home,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "key=value" in bad.stderr


def test_flow_run_ls_inspect_cancel_and_resume(
    cluster: Cluster, kubeconfig: Path, home: Path
) -> None:
    cluster.deployment("etl", deployment_spec())
    cluster.flowrun("etl-one", {"deploymentRef": {"name": "etl"}})
    cluster.patch_flowrun_status(
        "etl-one",
        {
            "state": {"type": "RUNNING", "name": "Running", "timestamp": "2026-01-01T00:00:00Z"},
            "runName": "brave-otter",
        },
    )
    ns = ["-n", cluster.namespace]
    listed = kflow("flow-run", "ls", *ns, kubeconfig=kubeconfig, home=home)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("etl-one"))
    assert row.split()[:4] == ["etl-one", "Running", "etl", "brave-otter"]
    for output, parse in (("json", json.loads), ("yaml", yaml.safe_load)):
        printed = kflow("flow-run", "ls", "-o", output, *ns, kubeconfig=kubeconfig, home=home)
        assert printed.returncode == 0, printed.stderr
        listing = parse(printed.stdout)
        assert listing["kind"] == "List"
        assert [item["metadata"]["name"] for item in listing["items"]] == ["etl-one"]
        assert listing["items"][0]["status"]["runName"] == "brave-otter"
        assert "managedFields" not in listing["items"][0]["metadata"]
    summary = kflow("flow-run", "inspect", "etl-one", *ns, kubeconfig=kubeconfig, home=home)
    assert summary.returncode == 0, summary.stderr
    assert "Run name        brave-otter" in summary.stdout
    assert "State           RUNNING" in summary.stdout
    inspected = kflow(
        "flow-run", "inspect", "etl-one", "-o", "yaml", *ns, kubeconfig=kubeconfig, home=home
    )
    assert inspected.returncode == 0, inspected.stderr
    document = yaml.safe_load(inspected.stdout)
    assert document["status"]["runName"] == "brave-otter"
    assert "managedFields" not in document["metadata"]

    not_paused = kflow("flow-run", "resume", "etl-one", *ns, kubeconfig=kubeconfig, home=home)
    assert not_paused.returncode == 1
    assert "is not paused (state RUNNING)" in not_paused.stderr
    cluster.patch_flowrun("etl-one", {"paused": True})
    resumed = kflow("flow-run", "resume", "etl-one", *ns, kubeconfig=kubeconfig, home=home)
    assert resumed.returncode == 0, resumed.stderr
    assert cluster.get_flowrun("etl-one")["spec"]["paused"] is False

    cancelled = kflow("flow-run", "cancel", "etl-one", *ns, kubeconfig=kubeconfig, home=home)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cluster.get_flowrun("etl-one")["spec"]["cancel"] is True

    missing = kflow("flow-run", "inspect", "nope", *ns, kubeconfig=kubeconfig, home=home)
    assert missing.returncode == 1
    assert f"FlowRun 'nope' not found in namespace {cluster.namespace}" in missing.stderr


def test_flow_run_logs_follows_the_launchers_log_file_until_the_run_ends(
    cluster: Cluster, kubeconfig: Path, home: Path, tmp_path: Path
) -> None:
    log_file = tmp_path / "run.log"
    log_file.write_text("first line\n")
    cluster.flowrun(
        "logged", {"entrypoint": "flows.py:sums", "infrastructure": {"type": "process"}}
    )
    cluster.patch_flowrun_status(
        "logged",
        {
            "state": {"type": "RUNNING", "name": "Running", "timestamp": "2026-01-01T00:00:00Z"},
            "infrastructure": {"type": "process", "logPath": str(log_file)},
        },
    )
    ns = ["-n", cluster.namespace]
    once = kflow("flow-run", "logs", "logged", *ns, kubeconfig=kubeconfig, home=home)
    assert once.returncode == 0, once.stderr
    assert once.stdout == "first line\n"

    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(KUBECONFIG=str(kubeconfig), HOME=str(home))
    follower = subprocess.Popen(
        [str(KFLOW), "flow-run", "logs", "-f", "logged", *ns],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    output = follower.stdout
    assert output is not None

    def read_lines() -> None:
        for line in output:
            lines.put(line)

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    try:
        assert lines.get(timeout=30) == "first line\n"
        with log_file.open("a") as out:
            out.write("second line\n")
        assert lines.get(timeout=30) == "second line\n"
        assert follower.poll() is None, "logs -f ended while the run was still RUNNING"
        completed = {"type": "COMPLETED", "name": "Completed", "timestamp": "2026-01-01T00:01:00Z"}
        cluster.patch_flowrun_status("logged", {"state": completed})
        follower.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert lines.empty()
    stderr = follower.stderr.read() if follower.stderr else ""
    assert follower.returncode == 0, stderr


def test_flow_run_commands_use_the_local_history_without_a_kube_config(home: Path) -> None:
    listed = kflow("flow-run", "ls", kubeconfig=home / "absent", home=home)
    assert listed.returncode == 0, listed.stderr
    assert "No flow runs in the local history" in listed.stdout
    cancelled = kflow("flow-run", "cancel", "x", kubeconfig=home / "absent", home=home)
    assert cancelled.returncode == 1
    assert "no flow run 'x' in the local history" in cancelled.stderr


def test_local_flag_wins_over_a_kube_config(kubeconfig: Path, home: Path) -> None:
    listed = kflow("flow-run", "ls", "--local", kubeconfig=kubeconfig, home=home)
    assert listed.returncode == 0, listed.stderr
    assert "No flow runs in the local history" in listed.stdout


def test_an_unreachable_cluster_is_one_line_pointing_at_local(
    kubeconfig: Path, home: Path, tmp_path: Path
) -> None:
    config = yaml.safe_load(kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    listed = kflow("flow-run", "ls", kubeconfig=dead, home=home)
    assert listed.returncode == 1
    assert "cannot reach the Kubernetes API server https://127.0.0.1:1" in listed.stderr
    assert "--local" in listed.stderr
    assert "Traceback" not in listed.stderr
