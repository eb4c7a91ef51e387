"""Input nobody thought of, by hand (issue #18): the longest names Kubernetes allows, non-ASCII
run names and parameters, 1 MiB parameters and results, thousands of runs of one Deployment, a
schedule every second, and entrypoints that never finish importing or exit while importing.
Each test asserts what a user sees: the run's state and message, `kflow flow-run` output, the
log, the Events."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import (
    GROUP,
    VERSION,
    Cluster,
    OperatorFactory,
    OperatorProcess,
    process_alive,
    recorded_process,
    wait_until,
)
from tests.integration.schedules_support import PROCESS_ONLY, parse, runs_of, utcnow
from tests.support.custom_objects import items_of

pytestmark = pytest.mark.integration

KFLOW = Path(sys.executable).parent / "kflow"
LONGEST = 253
"""The longest object name Kubernetes accepts (a DNS-1123 subdomain)."""
MIB = 1024 * 1024


def kflow(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KFLOW), *args, "-n", cluster.namespace],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, PYTHONIOENCODING="utf-8"),
    )


def flow_deployment(cluster: Cluster, name: str, entrypoint: str, **spec: Any) -> None:
    """A Deployment whose runs are `kflow execute` in a child process of the operator."""
    cluster.deployment(
        name, {"entrypoint": entrypoint, "infrastructure": {"type": "process"}, **spec}
    )


def status_size(run: dict[str, Any]) -> int:
    return len(json.dumps(run.get("status") or {}).encode())


def test_longest_names_run_end_to_end(cluster: Cluster, operator: OperatorProcess) -> None:
    deployment, run = "d" * LONGEST, "r" * LONGEST
    flow_deployment(cluster, deployment, "corners.py:measures")
    cluster.flowrun(run, {"deploymentRef": {"name": deployment}, "parameters": {"text": "hi"}})
    finished = cluster.wait_state(run, "COMPLETED", "FAILED", "CRASHED", timeout=45)
    status = finished["status"]
    assert status["state"]["type"] == "COMPLETED", status["state"]
    assert "received 2 characters" in Path(status["infrastructure"]["logPath"]).read_text()
    logs = kflow(cluster, "flow-run", "logs", run)
    assert logs.returncode == 0 and "received 2 characters" in logs.stdout, logs
    wait_until(
        "Events for the long-named run",
        lambda: {"Pending", "Completed"} <= {e.reason for e in cluster.events(run)},
    )


def test_longest_deployment_name_gets_valid_scheduled_runs(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    deployment = "s" * LONGEST
    operators.start(*PROCESS_ONLY)
    cluster.deployment(
        deployment,
        {
            "entrypoint": "flows.py:main",
            "infrastructure": {"type": "process", "command": ["/bin/sh", "-c", "exit 0"]},
            "schedules": [{"interval": 3600}],
            "upcomingRuns": 2,
        },
    )

    def two_scheduled() -> list[dict[str, Any]] | None:
        runs = runs_of(cluster, deployment)
        states = [((r.get("status") or {}).get("state") or {}).get("type") for r in runs]
        return runs if states == ["SCHEDULED", "SCHEDULED"] else None

    runs: list[dict[str, Any]] = wait_until("two SCHEDULED runs", two_scheduled)
    for made in runs:
        name = made["metadata"]["name"]
        assert len(name) <= 63 and name.startswith("s"), name
        assert all(len(value) <= 63 for value in made["metadata"]["labels"].values())


def test_non_ascii_object_names_are_refused_by_the_api_server_with_the_field(
    cluster: Cluster,
) -> None:
    """Kubernetes names are DNS-1123: non-ASCII names never reach the operator."""
    with pytest.raises(ApiException) as refused:
        cluster.flowrun("実行-🚀", {"deploymentRef": {"name": "d"}})
    assert refused.value.status == 422
    assert "metadata.name" in str(refused.value.body)


def test_non_ascii_run_name_and_parameters_end_to_end(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    flow_deployment(cluster, "d", "corners.py:named")
    label = "東京🌸Zürich"
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "parameters": {"label": label}})
    finished = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=45)
    status = finished["status"]
    assert status["state"]["type"] == "COMPLETED", status["state"]
    assert status["runName"] == f"実行-🚀-{label}"
    inspected = kflow(cluster, "flow-run", "inspect", "r")
    assert inspected.returncode == 0, inspected.stderr
    assert f"実行-🚀-{label}" in inspected.stdout
    as_json = json.loads(kflow(cluster, "flow-run", "inspect", "r", "-o", "json").stdout)
    assert json.dumps(as_json, ensure_ascii=False).count(f"済み {label}") >= 1
    logs = kflow(cluster, "flow-run", "logs", "r")
    assert f"こんにちは {label} 🌸" in logs.stdout, logs


def test_megabyte_parameters_run_and_the_status_stays_small(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    flow_deployment(cluster, "d", "corners.py:measures")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "parameters": {"text": "x" * MIB}})
    finished = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=45)
    status = finished["status"]
    assert status["state"]["type"] == "COMPLETED", status["state"]
    assert status_size(finished) < 64 * 1024, status_size(finished)
    assert f"received {MIB} characters" in Path(status["infrastructure"]["logPath"]).read_text()


def test_megabyte_result_is_not_written_into_the_status(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    flow_deployment(cluster, "d", "corners.py:echoes")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}, "parameters": {"text": "y" * MIB}})
    finished = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=45)
    status = finished["status"]
    assert status["state"]["type"] == "COMPLETED", status["state"]
    assert status_size(finished) < 64 * 1024, status_size(finished)


BULK_RUNS = int(os.environ.get("KFLOW_CORNERS_RUNS", "500"))
"""Runs of one Deployment in the bulk tests: 500 by default, not 10,000, to stay near a minute
(this 2-core machine, shared, creates ~13 objects/s: 2,000 took 2.5 min, 10,000 would take
~13). Set KFLOW_CORNERS_RUNS=2000 (or more) to run them bigger."""


def bulk_cancelled_runs(cluster: Cluster, count: int) -> float:
    """`count` runs of Deployment d created cancelled: each ends CANCELLED without a launch,
    so the operator writes `count` final states. Returns the seconds the creation took."""
    flow_deployment(cluster, "d", "flows.py:sums", failedRunsHistoryLimit=10)

    def create(number: int) -> None:
        cluster.flowrun(f"bulk-{number}", {"deploymentRef": {"name": "d"}, "cancel": True})

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(count)))
    return time.monotonic() - started


def test_thousands_of_runs_of_one_deployment_and_a_new_run_still_starts_within_seconds(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    created = bulk_cancelled_runs(cluster, BULK_RUNS)
    cluster.flowrun("fresh", {"deploymentRef": {"name": "d"}, "parameters": {"n": 2}})
    asked = time.monotonic()
    cluster.wait_state("fresh", "RUNNING", "COMPLETED", timeout=30)
    to_start = time.monotonic() - asked
    cluster.wait_state("fresh", "COMPLETED", timeout=30)
    print(
        f"\n{BULK_RUNS} runs created in {created:.1f}s; a new run was RUNNING {to_start:.1f}s "
        "after it was asked for"
    )
    assert to_start < 10, f"the new run started {to_start:.1f}s after it was asked for"


@pytest.mark.xfail(
    reason="open defect: after a burst of hundreds of runs ending at once, history pruning "
    "stops with runs beyond the limit (400 runs: 42-95 still there 120 s later); the "
    "Deployment's pass is not run again although more runs have ended (see the branch report)",
    strict=False,
)
def test_history_of_a_burst_of_runs_is_pruned_to_the_limit(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    bulk_cancelled_runs(cluster, BULK_RUNS)
    left: list[dict[str, Any]] = []

    def pruned() -> bool:
        left[:] = items_of(
            cluster.objects.list_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, "flowruns"
            )
        )
        return len(left) <= 10

    try:
        wait_until("history pruned to 10 failed runs", pruned, timeout=120, interval=1)
    except TimeoutError as error:
        kinds = Counter(
            (
                ((r.get("status") or {}).get("state") or {}).get("type"),
                bool(r["metadata"].get("deletionTimestamp")),
            )
            for r in left
        )
        raise AssertionError(
            f"{error}: {len(left)} runs left, (state, deleting): {kinds}"
        ) from error


def test_schedule_every_second_creates_each_instant_once_without_pile_up(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operators.start(*PROCESS_ONLY)
    upcoming = 3
    cluster.deployment(
        "tick",
        {
            "entrypoint": "flows.py:main",
            "infrastructure": {"type": "process", "command": ["/bin/sh", "-c", "exit 0"]},
            "schedules": [{"interval": 1}],
            "upcomingRuns": upcoming,
            "failedRunsHistoryLimit": 100,
        },
    )
    began = utcnow()
    deadline = time.monotonic() + 20
    most_ahead = 0
    while time.monotonic() < deadline:
        now = utcnow()
        ahead = [r for r in runs_of(cluster, "tick") if parse(r["spec"]["scheduledTime"]) > now]
        most_ahead = max(most_ahead, len(ahead))
        time.sleep(0.2)
    cluster.objects.patch_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, "deployments", "tick", {"spec": {"paused": True}}
    )
    ended = utcnow()
    runs = runs_of(cluster, "tick")
    times = [parse(r["spec"]["scheduledTime"]) for r in runs]
    assert len(times) == len(set(times)), "an instant got two runs"
    due = sorted(t for t in times if t <= ended)
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(due)}
    assert gaps == {1.0}, f"gaps between due runs: {sorted(gaps)}"
    assert len(due) >= 18, f"{len(due)} due runs in {(ended - began).total_seconds():.0f}s"
    assert most_ahead <= upcoming, f"{most_ahead} runs were ahead at once"

    def settled() -> bool:
        late = [r for r in runs_of(cluster, "tick") if parse(r["spec"]["scheduledTime"]) <= ended]
        return all(
            ((r.get("status") or {}).get("state") or {}).get("type")
            in ("CRASHED", "COMPLETED", "CANCELLED", "FAILED")
            for r in late
        )

    wait_until("every due run ended (none piled up)", settled, timeout=20)


def test_entrypoint_importing_forever_never_runs_and_can_be_cancelled(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    flow_deployment(cluster, "d", "imports_forever.py:main", cancelGracePeriodSeconds=2)
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    pending = cluster.wait_state("r", "PENDING")
    pid, ticks = recorded_process(pending)
    wait_until("the import to be spinning", lambda: _cpu_ticks(pid) > 50, timeout=20)
    assert cluster.state("r") == "PENDING"
    cluster.cancel("r")
    cancelled = cluster.wait_state("r", "CANCELLED", timeout=20)
    assert "RUNNING" not in [e["type"] for e in cancelled["status"]["stateHistory"]]
    wait_until("the spinning process gone", lambda: not process_alive(pid, ticks), timeout=10)


def test_entrypoint_importing_forever_is_crashed_at_the_start_deadline(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operators.start("--start-deadline-seconds", "5")
    flow_deployment(cluster, "d", "imports_forever.py:main")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    pid, ticks = recorded_process(cluster.wait_state("r", "PENDING"))
    crashed = cluster.wait_state("r", "CRASHED", timeout=30)
    message = crashed["status"]["state"]["message"]
    assert "5s without reporting RUNNING" in message, message
    wait_until("the spinning process gone", lambda: not process_alive(pid, ticks), timeout=10)


def test_entrypoint_exiting_at_import_is_crashed_saying_it_never_reported(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    flow_deployment(cluster, "d", "exits_at_import.py:main")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    crashed = cluster.wait_state("r", "CRASHED", "COMPLETED", "FAILED", timeout=30)
    state = crashed["status"]["state"]
    assert state["type"] == "CRASHED", state
    assert "before reporting" in state["message"] and "code 0" in state["message"], state


def _cpu_ticks(pid: int) -> int:
    """User plus system CPU time of a process, in clock ticks (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])
