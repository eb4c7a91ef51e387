"""Operators as the workers of WorkPools, on a real API server: the pool lists the operator
serving it with a heartbeat and is Ready; a worker stopped cleanly takes its entry along; one
killed leaves the pool NotReady (`NoWorkers`) once the timeout passes, and the pool's due runs
say so (`AwaitingWorker`); of two replicas serving one pool only the active one is a worker;
and `kflow worker start --pool` serves a pool's runs from this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    FLOWS,
    GROUP,
    VERSION,
    Cluster,
    OperatorFactory,
    OperatorProcess,
    wait_until,
)
from tests.support.custom_objects import json_object
from tests.support.operator_process import free_port

pytestmark = pytest.mark.integration

HEARTBEAT, TIMEOUT = 1, 4
FAST = ("--worker-heartbeat-seconds", str(HEARTBEAT), "--worker-timeout-seconds", str(TIMEOUT))
KFLOW = Path(sys.executable).parent / "kflow"


def create_pool(cluster: Cluster, name: str, **spec: Any) -> None:
    cluster.workpool(name, {"type": "process", **spec})


def pool_status(cluster: Cluster, name: str) -> dict[str, Any]:
    body = json_object(
        cluster.objects.get_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, "workpools", name
        )
    )
    status: dict[str, Any] = body.get("status") or {}
    return status


def ready(status: dict[str, Any]) -> dict[str, Any]:
    found = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
    return found[0] if found else {}


def pid_of(worker: dict[str, Any]) -> int:
    """The PID in a worker identity `host/boot-id/PID@START_TICKS`."""
    return int(worker["identity"].rpartition("/")[2].partition("@")[0])


def worker_pids(status: dict[str, Any]) -> list[int]:
    return [pid_of(w) for w in status.get("workers") or []]


def test_a_served_pool_lists_its_worker_and_a_clean_stop_takes_the_entry_along(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    create_pool(cluster, "p")
    operator = operators.start("--work-pool", "p", *FAST)
    first = wait_until(
        "the operator listed as the pool's live worker, Ready",
        lambda: (
            (s := pool_status(cluster, "p")).get("liveWorkers") == 1
            and ready(s).get("status") == "True"
            and s
        ),
    )
    assert worker_pids(first) == [operator.popen.pid]
    entry = first["workers"][0]
    assert entry["startTime"] <= entry["lastHeartbeatTime"] and entry["version"]
    assert ready(first)["reason"] == "WorkersLive"
    wait_until(
        "a newer heartbeat",
        lambda: (
            pool_status(cluster, "p")["workers"][0]["lastHeartbeatTime"]
            > entry["lastHeartbeatTime"]
        ),
        timeout=5 * HEARTBEAT,
    )

    operator.stop()
    assert operator.popen.returncode == 0, operator.log_tail()
    after = pool_status(cluster, "p")  # written before the process exited
    assert after.get("workers") == [] and after["liveWorkers"] == 0, after
    assert ready(after)["status"] == "False" and ready(after)["reason"] == "NoWorkers"
    assert "no worker is serving pool p" in ready(after)["message"]


def test_a_pool_can_be_deleted_once_its_operator_has_stopped(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    """`helm uninstall` deletes the chart's pools together with the operator and its RBAC: a
    pool must carry no finalizer of ours that only a running operator could remove."""
    create_pool(cluster, "p")
    operator = operators.start("--work-pool", "p", *FAST)

    def pool() -> dict[str, Any]:
        return json_object(
            cluster.objects.get_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, "workpools", "p"
            )
        )

    wait_until("the operator serving the pool", lambda: pool().get("status", {}).get("workers"))
    assert "kflow.dev/finalizer" not in (pool()["metadata"].get("finalizers") or [])
    operator.sigkill()
    cluster.kubectl.run("delete", "workpool", "p", "--wait=true", "--timeout=20s", timeout=30)


def test_a_killed_worker_leaves_its_pool_not_ready_and_its_due_runs_awaiting_a_worker(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    create_pool(cluster, "p")
    create_pool(cluster, "other")
    worker = operators.start("--work-pool", "p", *FAST)
    wait_until("a live worker", lambda: pool_status(cluster, "p").get("liveWorkers") == 1)
    worker.sigkill()
    cluster.flowrun(
        "r",
        {
            "workPool": {"name": "p"},
            "entrypoint": "flows.py:sums",
            "infrastructure": {"type": "process"},
        },
    )
    # An operator of the namespace serving another pool: it says what is wrong with pool p,
    # and never runs p's runs.
    observer = operators.start("--work-pool", "other", *FAST)
    status = wait_until(
        "pool p NotReady: NoWorkers",
        lambda: (
            (s := pool_status(cluster, "p")).get("liveWorkers") == 0
            and ready(s).get("reason") == "NoWorkers"
            and s
        ),
        timeout=TIMEOUT + 15,
    )
    message = ready(status)["message"]
    beat = status["workers"][0]["lastHeartbeatTime"]
    assert message == (
        f"no worker is serving pool p (last heartbeat {beat[:19]}Z); start one: kflow worker "
        f"start --pool p --namespace {cluster.namespace}, or an operator with --work-pool p"
    )
    assert worker_pids(status) == [worker.popen.pid], "a killed worker's entry stays until pruned"

    def awaiting() -> dict[str, Any] | None:
        state = (cluster.get_flowrun("r").get("status") or {}).get("state") or {}
        return state if state.get("name") == "AwaitingWorker" else None

    try:
        state = wait_until("the due run AwaitingWorker", awaiting, timeout=30)
    except TimeoutError as error:
        status = cluster.get_flowrun("r").get("status")
        raise AssertionError(f"{error}; run: {status}\n{observer.log_tail()}") from error
    assert state["type"] == "SCHEDULED" and state["message"] == message
    wait_until(
        "a Warning Event on the run saying so",
        lambda: any(
            e.reason == "AwaitingWorker" and e.type == "Warning" and e.message == message
            for e in cluster.events("r")
        ),
    )
    wait_until(
        "the pool counts its waiting run",
        lambda: pool_status(cluster, "p").get("runCounts", {}).get("scheduled") == 1,
    )


def test_of_two_replicas_serving_one_pool_only_the_active_one_is_its_worker(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    create_pool(cluster, "p")
    low = operators.start("--work-pool", "p", "--priority", "10", *FAST)
    wait_until(
        "the only replica listed", lambda: worker_pids(pool_status(cluster, "p")) == [low.popen.pid]
    )
    high = operators.start("--work-pool", "p", "--priority", "20", *FAST)
    wait_until(
        "the higher-priority replica listed in place of the one that stepped down",
        lambda: worker_pids(pool_status(cluster, "p")) == [high.popen.pid],
        timeout=20,
    )
    # Three heartbeats later, still only the active replica.
    seen: set[str] = set()

    def beats_of_the_active_one_only() -> bool:
        status = pool_status(cluster, "p")
        assert worker_pids(status) == [high.popen.pid], status
        seen.add(status["workers"][0]["lastHeartbeatTime"])
        return len(seen) >= 3

    wait_until("three heartbeats", beats_of_the_active_one_only, timeout=10 * HEARTBEAT)
    high.stop()
    wait_until(
        "the standby takes over as the pool's worker",
        lambda: worker_pids(pool_status(cluster, "p")) == [low.popen.pid],
        timeout=20,
    )


def test_kflow_worker_start_serves_a_pools_runs_until_ctrl_c(
    cluster: Cluster, tmp_path: Path, kubeconfig: Path
) -> None:
    create_pool(cluster, "p")
    cluster.deployment(
        "d",
        {
            "workPool": {"name": "p"},
            "entrypoint": "flows.py:sums",
            "infrastructure": {
                "type": "process",
                "env": {"KFLOW_HOME": str(tmp_path / "home")},
                "process": {"workingDirectory": str(FLOWS)},
            },
        },
    )
    port = free_port()
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                str(KFLOW),
                "worker",
                "start",
                "--pool",
                "p",
                "--pool",
                "not-yet",
                "--namespace",
                cluster.namespace,
                "--",
                "--state-dir",
                str(tmp_path / "state"),
                "--liveness",
                f"http://127.0.0.1:{port}/healthz",
                *FAST,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, KUBECONFIG=str(kubeconfig), PYTHONUNBUFFERED="1"),
            cwd=FLOWS,
        )
    process = OperatorProcess(worker, f"http://127.0.0.1:{port}/healthz", log)
    try:
        process.wait_ready()
        wait_until(
            "the worker listed on its pool",
            lambda: worker_pids(pool_status(cluster, "p")) == [worker.pid],
        )
        cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "parameters": {"n": 3}})
        run = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=60)
        assert run["status"]["state"]["type"] == "COMPLETED", process.log_tail()
        assert run["status"]["result"]["value"] == {"total": 6, "label": "default"}

        worker.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert worker.wait(timeout=20) == 0, process.log_tail()
        assert pool_status(cluster, "p").get("workers") == []
        said = process.log()
        assert f"serving work pool p, not-yet in namespace {cluster.namespace}" in said
        assert (
            f"work pool not-yet does not exist in namespace {cluster.namespace}; its runs are "
            "served once it is created (kflow work-pool create not-yet --type ...)"
        ) in said
    finally:
        process.stop()
