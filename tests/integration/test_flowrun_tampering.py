"""A FlowRun written by a user while its flow runs (issue #18): changed parameters, a status
overwritten with garbage, a forged infrastructure identifier. The run's own reporting keeps the
truth or fails clearly, and the operator never signals a process that is not the run's."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import (
    Cluster,
    OperatorFactory,
    OperatorProcess,
    process_alive,
    recorded_process,
    wait_until,
)
from tests.support.launching_process import is_fork_server, parent_of

pytestmark = pytest.mark.integration


@pytest.fixture(params=["forked", "execd"])
def launch_mode(request: pytest.FixtureRequest) -> str:
    """Every test runs with process runs forked by the fork server and exec'd without it: the
    owner check must hold for both."""
    mode: str = request.param
    return mode


@pytest.fixture
def operator(operators: OperatorFactory, launch_mode: str) -> OperatorProcess:
    if launch_mode == "execd":
        return operators.start("--no-process-fork-server")
    return operators.start()


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A process on the operator's host that is no run's: a forged identifier points at it."""
    popen = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield popen
    popen.kill()
    popen.wait()


def start_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def holding_run(cluster: Cluster, seconds: float = 6, **spec: Any) -> dict[str, Any]:
    """A running run of corners.py:holds, label 'original'; returned once RUNNING."""
    cluster.deployment(
        "d",
        {"entrypoint": "corners.py:holds", "infrastructure": {"type": "process"}, **spec},
    )
    cluster.flowrun(
        "r",
        {"deploymentRef": {"name": "d"}, "parameters": {"label": "original", "seconds": seconds}},
    )
    return cluster.wait_state("r", "RUNNING", timeout=30)


def test_parameters_changed_while_running_are_ignored_by_the_running_run(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    holding_run(cluster)
    cluster.patch_flowrun("r", {"parameters": {"label": "changed", "seconds": 6}})
    finished = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=30)
    status = finished["status"]
    assert status["state"]["type"] == "COMPLETED", status["state"]
    assert status["result"]["value"] == "original"
    log = Path(status["infrastructure"]["logPath"]).read_text()
    assert "started with original" in log and "changed" not in log


def test_a_state_outside_the_schema_is_refused_naming_the_field(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    holding_run(cluster, seconds=3)
    with pytest.raises(ApiException) as refused:
        cluster.patch_flowrun_status("r", {"state": {"type": "EXPLODED", "name": "Boom"}})
    assert refused.value.status == 422
    assert "status.state.type" in str(refused.value.body)
    finished = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=30)
    assert finished["status"]["state"]["type"] == "COMPLETED"


def test_state_history_replaced_while_running_still_ends_with_the_truth(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    holding_run(cluster, seconds=3)
    forged = [
        {"type": "COMPLETED", "name": "Completed", "timestamp": "2020-01-01T00:00:00Z"},
    ]
    cluster.patch_flowrun_status("r", {"stateHistory": forged})
    finished = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=30)
    status = finished["status"]
    assert status["state"]["type"] == "COMPLETED", status["state"]
    assert status["stateHistory"][-1]["type"] == "COMPLETED"
    assert status["stateHistory"][-1]["timestamp"] == status["state"]["timestamp"]


def test_a_forged_terminal_state_while_running_is_not_overwritten_and_the_process_ends(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """A user writes FAILED over a running run: nothing leaves a terminal state, so the flow's
    own COMPLETED is refused; the run stays FAILED with the user's message, and its process
    ends (it learns its write was refused, or the operator stops what lingers)."""
    running = holding_run(cluster, seconds=4)
    pid, ticks = recorded_process(running)
    cluster.patch_flowrun_status(
        "r",
        {
            "state": {
                "type": "FAILED",
                "name": "Failed",
                "message": "forged by a user",
                "timestamp": running["status"]["state"]["timestamp"],
            }
        },
    )
    wait_until("the run's process gone", lambda: not process_alive(pid, ticks), timeout=45)
    status = cluster.get_flowrun("r")["status"]
    assert status["state"]["type"] == "FAILED"
    assert status["state"]["message"] == "forged by a user"


def test_a_forged_foreign_scope_makes_the_operator_leave_the_process_alone(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """Another host's scope: this operator acts on nothing outside its own (DESIGN §5) and
    leaves even a cancellation to an operator of that scope. The flow, which watches its own
    FlowRun, honours spec.cancel and ends by itself; the run's final CANCELLED is the
    (absent) scope owner's to write, so the run is not shown ended."""
    running = holding_run(cluster, seconds=30)
    pid, ticks = recorded_process(running)
    infra = running["status"]["infrastructure"]
    cluster.patch_flowrun_status(
        "r",
        {"infrastructure": {"scope": "elsewhere/boot", "pid": f"elsewhere/boot:{infra['id']}"}},
    )
    cluster.cancel("r")
    wait_until("the flow ended by itself", lambda: not process_alive(pid, ticks), timeout=20)
    log = Path(infra["logPath"]).read_text()
    assert "cancel requested (spec.cancel)" in log, log
    status = cluster.get_flowrun("r")["status"]
    assert status["state"]["type"] not in ("CANCELLED", "CRASHED", "COMPLETED"), status["state"]
    assert status["infrastructure"]["scope"] == "elsewhere/boot"


def test_a_forged_identifier_in_scope_never_gets_another_process_signalled(
    cluster: Cluster, operator: OperatorProcess, victim: subprocess.Popen[bytes]
) -> None:
    """The identifier points at a process of the operator's host that is not the run's: the
    operator's cancellation must not signal it, and the run does not pretend it is running."""
    running = holding_run(cluster, seconds=30, cancelGracePeriodSeconds=2)
    real_pid, real_ticks = recorded_process(running)
    infra = running["status"]["infrastructure"]
    forged_id = f"{victim.pid}@{start_ticks(victim.pid)}"
    cluster.patch_flowrun_status(
        "r", {"infrastructure": {"id": forged_id, "pid": f"{infra['scope']}:{forged_id}"}}
    )
    cluster.cancel("r")
    ended = cluster.wait_state("r", "CANCELLED", "CRASHED", timeout=40)
    assert victim.poll() is None, f"the victim process was signalled: {victim.returncode}"
    assert "is not this run's process" in ended["status"]["state"]["message"], ended["status"]
    wait_until(
        "the real run's process gone (it sees its run end and stops)",
        lambda: not process_alive(real_pid, real_ticks),
        timeout=40,
    )
    assert victim.poll() is None, f"the victim process was signalled: {victim.returncode}"


def test_a_forged_identifier_of_a_running_run_crashes_it_saying_so(
    cluster: Cluster, operator: OperatorProcess, victim: subprocess.Popen[bytes]
) -> None:
    """No cancellation: the operator watching the forged identifier must not take the victim
    for the run (it would show RUNNING for ever, or end with the victim's exit)."""
    running = holding_run(cluster, seconds=30)
    infra = running["status"]["infrastructure"]
    forged_id = f"{victim.pid}@{start_ticks(victim.pid)}"
    cluster.patch_flowrun_status(
        "r", {"infrastructure": {"id": forged_id, "pid": f"{infra['scope']}:{forged_id}"}}
    )
    crashed = cluster.wait_state("r", "CRASHED", timeout=30)
    assert "is not this run's process" in crashed["status"]["state"]["message"]
    assert victim.poll() is None, f"the victim process was signalled: {victim.returncode}"


def foreign_scope_condition(cluster: Cluster, name: str) -> dict[str, Any] | None:
    conditions = (cluster.get_flowrun(name).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "ForeignScope"), None)


def test_a_forged_foreign_scope_is_said_on_the_run_until_the_scope_is_back(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """The operator leaves the run alone (above) but not silently: a ForeignScope condition and
    a Warning Event name the scope the run carries, this operator's, and what to do. Put back,
    the run is this operator's again: the condition clears and a cancellation is enforced."""
    running = holding_run(cluster, seconds=60, cancelGracePeriodSeconds=2)
    pid, ticks = recorded_process(running)
    infra = running["status"]["infrastructure"]
    own = infra["scope"]
    cluster.patch_flowrun_status(
        "r",
        {"infrastructure": {"scope": "elsewhere/boot", "pid": f"elsewhere/boot:{infra['id']}"}},
    )
    said = wait_until(
        "the ForeignScope condition set",
        lambda: (c := foreign_scope_condition(cluster, "r")) and c["status"] == "True" and c,
        timeout=20,
    )
    message = said["message"]
    assert said["reason"] == "ForeignScope"
    assert "status.infrastructure.scope is 'elsewhere/boot'" in message, message
    assert f"this operator's process scope is {own!r}" in message, message
    assert "delete the FlowRun" in message, message
    # Events are posted beside the status write, not before it: wait for it.
    warnings = wait_until(
        "the ForeignScope Event posted",
        lambda: [e for e in cluster.events("r") if e.reason == "ForeignScope"],
        timeout=20,
    )
    assert warnings[0].type == "Warning" and warnings[0].message == message
    assert process_alive(pid, ticks), "the run's process is left alone"
    assert cluster.state("r") == "RUNNING"

    cluster.patch_flowrun_status("r", {"infrastructure": {"scope": own, "pid": infra["pid"]}})
    wait_until(
        "the ForeignScope condition cleared",
        lambda: (c := foreign_scope_condition(cluster, "r")) and c["status"] == "False",
        timeout=20,
    )
    cluster.cancel("r")
    cluster.wait_state("r", "CANCELLED", timeout=30)
    wait_until("the run's process gone", lambda: not process_alive(pid, ticks), timeout=20)


def test_a_forged_identifier_naming_another_runs_process_leaves_that_run_unharmed(
    cluster: Cluster, operator: OperatorProcess, launch_mode: str
) -> None:
    """Run b's identifier is rewritten to run a's process (both started by this operator,
    forked or exec'd): cancelling b must not signal a, b says its identifier is not its
    process, and a runs on to COMPLETED with its own result."""
    cluster.deployment(
        "d",
        {
            "entrypoint": "corners.py:holds",
            "infrastructure": {"type": "process"},
            "cancelGracePeriodSeconds": 2,
        },
    )
    cluster.flowrun(
        "a", {"deploymentRef": {"name": "d"}, "parameters": {"label": "a", "seconds": 20}}
    )
    cluster.flowrun(
        "b", {"deploymentRef": {"name": "d"}, "parameters": {"label": "b", "seconds": 60}}
    )
    running_a = cluster.wait_state("a", "RUNNING", timeout=30)
    running_b = cluster.wait_state("b", "RUNNING", timeout=30)
    pid_a = recorded_process(running_a)[0]
    pid_b, ticks_b = recorded_process(running_b)
    assert is_fork_server(parent_of(pid_a)) == (launch_mode == "forked")
    infra_a = running_a["status"]["infrastructure"]
    cluster.patch_flowrun_status(
        "b", {"infrastructure": {"id": infra_a["id"], "pid": infra_a["pid"]}}
    )
    cluster.cancel("b")
    ended = cluster.wait_state("b", "CANCELLED", "CRASHED", timeout=40)
    assert "is not this run's process" in ended["status"]["state"]["message"], ended["status"]
    wait_until(
        "b's real process gone (it sees its run end and stops)",
        lambda: not process_alive(pid_b, ticks_b),
        timeout=40,
    )
    finished = cluster.wait_state("a", "COMPLETED", "FAILED", "CRASHED", "CANCELLED", timeout=40)
    assert finished["status"]["state"]["type"] == "COMPLETED", finished["status"]["state"]
    assert finished["status"]["result"]["value"] == "a"
