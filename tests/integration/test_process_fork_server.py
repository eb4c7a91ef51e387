"""Process runs forked by the operator's fork server (`kflow execute` in a warm interpreter):
they end as exec'd runs did, with the exit code; cancellation signals and kills exactly the
run's process; a restarted operator re-adopts a forked run; a dead server means exec again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.integration.conftest import (
    FLOWS,
    Cluster,
    OperatorFactory,
    OperatorProcess,
    process_alive,
    recorded_process,
    wait_until,
)
from tests.integration.test_flowrun_flows import deploy, history, marks, output
from tests.support.launching_process import (
    FORK_SERVER_MODULE,
    cmdline,
    is_fork_server,
    parent_of,
)

pytestmark = pytest.mark.integration

__all__ = ["marks"]  # the fixture, used by name


def fork_server_of(operator: OperatorProcess) -> int:
    """The PID of the operator's fork server (its child running the server module)."""

    def find() -> int | None:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and is_fork_server(int(entry.name)):
                try:
                    if parent_of(int(entry.name)) == operator.popen.pid:
                        return int(entry.name)
                except (OSError, ValueError):
                    continue
        return None

    found: int = wait_until("the operator's fork server", find)
    return found


def sockets_of(pid: int) -> set[str]:
    fds = Path(f"/proc/{pid}/fd")
    links = set()
    for fd in fds.iterdir():
        try:
            links.add(os.readlink(fd))
        except OSError:
            continue
    return {link for link in links if link.startswith("socket:")}


def test_a_forked_run_is_set_up_as_an_execd_one_and_completes(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "d", "flows.py:waits", parameters={"seconds": 1})
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "RUNNING", timeout=60)
    pid, ticks = recorded_process(run)
    server = fork_server_of(operator)
    assert parent_of(pid) == server, "the run is the fork server's child"
    assert os.getsid(pid) == pid, "the run leads its own session, as exec'd runs do"
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "kflow"
    assert os.readlink(f"/proc/{pid}/cwd") == str(FLOWS)
    wait_until("the flow to see its environment (TEST_MARKS)", (marks / "started").exists)
    assert not sockets_of(pid) & sockets_of(server), "no socket of the server leaks into a run"
    run = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=60)
    assert run["status"]["state"]["type"] == "COMPLETED", output(run)
    assert history(run) == ["PENDING", "RUNNING", "COMPLETED"]
    wait_until(
        "exit code 0",
        lambda: cluster.get_flowrun("r")["status"]["infrastructure"].get("exitCode") == 0,
    )
    wait_until("the run's process reaped", lambda: not Path(f"/proc/{pid}").exists())
    assert not process_alive(pid, ticks)


def test_a_failing_forked_run_fails_with_its_exit_code(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "d", "flows.py:fails")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "FAILED", "COMPLETED", "CRASHED", timeout=60)
    assert run["status"]["state"]["type"] == "FAILED", output(run)
    assert "the flow broke on purpose" in run["status"]["state"]["message"]
    wait_until(
        "exit code 1",
        lambda: cluster.get_flowrun("r")["status"]["infrastructure"].get("exitCode") == 1,
    )


def test_a_forked_run_that_dies_is_crashed_with_the_signal(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "d", "flows.py:waits")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    pid, _ = recorded_process(cluster.wait_state("r", "RUNNING", timeout=60))
    assert parent_of(pid) == fork_server_of(operator)
    os.kill(pid, signal.SIGKILL)
    run = cluster.wait_state("r", "CRASHED", timeout=10)
    assert "killed by SIGKILL" in run["status"]["state"]["message"]
    assert run["status"]["infrastructure"]["signal"] == "SIGKILL"


def test_cancelling_forked_runs_sigterm_then_sigkill(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "polite", "flows.py:waits")
    deploy(cluster, marks, "stubborn", "flows.py:stubborn", cancelGracePeriodSeconds=3)
    cluster.flowrun("p", {"deploymentRef": {"name": "polite"}})
    cluster.flowrun("s", {"deploymentRef": {"name": "stubborn"}})
    polite = recorded_process(cluster.wait_state("p", "RUNNING", timeout=60))
    stubborn = recorded_process(cluster.wait_state("s", "RUNNING", timeout=60))
    server = fork_server_of(operator)
    assert parent_of(polite[0]) == server and parent_of(stubborn[0]) == server
    wait_until("both flows to start", lambda: (marks / "started").exists())
    cluster.cancel("p")
    cluster.cancel("s")
    run = cluster.wait_state("p", "CANCELLED", timeout=30)
    assert (marks / "on_cancellation").exists(), output(run)
    assert "killTime" not in run["status"]["cancellation"]
    assert not process_alive(*polite)
    run = cluster.wait_state("s", "CANCELLED", timeout=30)
    assert "killTime" in run["status"]["cancellation"], output(run)
    assert run["status"]["infrastructure"]["signal"] == "SIGKILL"
    assert not process_alive(*stubborn)


def test_a_forked_run_outlives_its_operator_and_is_readopted(
    cluster: Cluster, operators: OperatorFactory, marks: Path
) -> None:
    deploy(cluster, marks, "d", "flows.py:waits")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    first = operators.start()
    pid, ticks = recorded_process(cluster.wait_state("r", "RUNNING", timeout=60))
    server = fork_server_of(first)
    first.sigkill()
    wait_until("the fork server to follow its operator", lambda: not process_alive(server))
    assert process_alive(pid, ticks), "the run survives its operator and its fork server"
    operators.start()
    cluster.cancel("r")
    run = cluster.wait_state("r", "CANCELLED", timeout=30)
    assert run["status"]["infrastructure"]["id"] == f"{pid}@{ticks}"
    assert not process_alive(pid, ticks)
    assert (marks / "on_cancellation").exists(), output(run)


def test_runs_are_execd_once_the_fork_server_is_gone(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    deploy(cluster, marks, "long", "flows.py:waits")
    deploy(cluster, marks, "quick", "flows.py:waits", parameters={"seconds": 0})
    os.kill(fork_server_of(operator), signal.SIGKILL)
    wait_until(
        "the operator to notice",
        lambda: "fork server unavailable (it exited)" in operator.log(),
    )
    cluster.flowrun("long", {"deploymentRef": {"name": "long"}})
    pid, ticks = recorded_process(cluster.wait_state("long", "RUNNING", timeout=60))
    assert parent_of(pid) == operator.popen.pid, "exec'd by the operator itself"
    assert "execute" in cmdline(pid).split()
    cluster.cancel("long")
    cluster.wait_state("long", "CANCELLED", timeout=30)
    assert not process_alive(pid, ticks)
    cluster.flowrun("quick", {"deploymentRef": {"name": "quick"}})
    run = cluster.wait_state("quick", "COMPLETED", "FAILED", "CRASHED", timeout=60)
    assert run["status"]["state"]["type"] == "COMPLETED", output(run)
    assert operator.log().count("fork server unavailable") == 1


def test_no_fork_server_execs_every_run(
    cluster: Cluster, operators: OperatorFactory, marks: Path
) -> None:
    operator = operators.start("--no-process-fork-server")
    deploy(cluster, marks, "d", "flows.py:waits")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    pid, _ = recorded_process(cluster.wait_state("r", "RUNNING", timeout=60))
    assert parent_of(pid) == operator.popen.pid
    assert "execute" in cmdline(pid).split()


def test_a_forked_runs_traceback_is_the_runs_own(
    cluster: Cluster, operator: OperatorProcess, marks: Path
) -> None:
    """The forked child runs outside the server's loop: a flow's error in the run's log is the
    flow's, not chained to the fork server's own exception ("During handling of …")."""
    deploy(cluster, marks, "d", "flows.py:fails")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=60)
    log = output(run)
    assert run["status"]["state"]["type"] == "FAILED", log
    assert "ValueError: the flow broke on purpose" in log, log
    assert "ChildDone" not in log and "During handling" not in log, log


@pytest.mark.parametrize("server", ["forked", "exec'd"])
def test_a_runs_exit_does_what_the_interpreters_exit_does(
    cluster: Cluster, operators: OperatorFactory, marks: Path, server: str
) -> None:
    """A forked run skips tearing down the server's shared heap (forked_exit.py), not what an
    exit does for the run: the same as an exec'd run's exit."""
    operators.start(*([] if server == "forked" else ["--no-process-fork-server"]))
    deploy(cluster, marks, "d", "flows.py:leaves_work_for_exit")
    cluster.flowrun("r", {"deploymentRef": {"name": "d"}})
    run = cluster.wait_state("r", "COMPLETED", "FAILED", "CRASHED", timeout=60)
    assert run["status"]["state"]["type"] == "COMPLETED", output(run)
    parent = (marks / "parent").read_bytes()
    assert (FORK_SERVER_MODULE.encode() in parent) == (server == "forked"), parent
    infrastructure = wait_until(
        "the exit code",
        lambda: (
            cluster.get_flowrun("r")["status"]["infrastructure"].get("exitCode") is not None
            and cluster.get_flowrun("r")["status"]["infrastructure"]
        ),
    )
    assert infrastructure["exitCode"] == 0, output(run)
    for left in ("thread-finished", "atexit-ran", "pool-ran"):
        assert (marks / left).exists(), f"{left} missing; log:\n{output(run)}"
    assert output(run).endswith("the last words, unterminated"), output(run)
