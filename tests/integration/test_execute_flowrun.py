"""`kflow execute` as a real process against a real API server, with no operator.

Each test creates a FlowRun directly, runs `kflow execute` for it the way every launcher does
(env KFLOW_FLOW_RUN_NAMESPACE / KFLOW_FLOW_RUN_NAME, KUBECONFIG, the flow files in the working
directory), and checks what a user sees: the FlowRun status, the process's exit status and its
output. Where the operator would act (writing CANCELLING, restarting a suspended run), the
test writes what the operator writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import GROUP, VERSION, Cluster, wait_until

pytestmark = pytest.mark.integration

KFLOW = Path(sys.executable).parent / "kflow"

FLOWS = """
import os
import time
from pathlib import Path

from kflow import flow, get_run_context, pause_flow_run, resume_flow_run, runtime, task

MARKS = Path(os.environ["TEST_MARKS"])


def mark(name: str) -> None:
    (MARKS / name).write_text("x")


def wait_for_mark(name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (MARKS / name).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"mark {name} never appeared")
        time.sleep(0.02)


@task
def double(x: int) -> int:
    return x * 2


@task
def step(i: int) -> int:
    time.sleep(0.05)
    return i


@flow
def whoami(n: int = 0) -> dict:
    return {
        "id": runtime.deployment.id,
        "name": runtime.deployment.name,
        "parameters": runtime.deployment.parameters,
        "context": get_run_context().flow_run.deployment_id,
    }


@flow
def sums(n: int, label: str = "default") -> dict:
    return {"total": sum(double(i) for i in range(n)), "label": label}


@flow
def fails() -> None:
    double(1)
    raise ValueError("the flow broke on purpose")


def note_cancel(flow, flow_run, state) -> None:
    mark("on_cancellation")


def note_crash(flow, flow_run, state) -> None:
    mark("on_crashed")


@flow(on_cancellation=[note_cancel], on_crashed=[note_crash])
def long_steps(count: int = 2000) -> int:
    total = 0
    for i in range(count):
        total += step(i)
        if i == 2:
            mark("started")
    return total


@flow
def many(n: int) -> int:
    return sum(f.result() for f in double.map(range(n)))


@flow(on_cancellation=[note_cancel])
def pauses_inside(timeout: float = 60) -> str:
    double(1)
    mark("pausing")
    pause_flow_run(timeout=timeout)
    double(2)
    return "resumed"


@flow(flow_run_name="run-{nope}")
def badly_named() -> int:
    return 1


@flow
def resumes(other: str) -> str:
    double(1)
    resume_flow_run(other)
    return other


@flow
def finishes_on_mark() -> str:
    for i in range(3):
        step(i)
    mark("started")
    wait_for_mark("finish")
    return "done"


@task(persist_result=True)
def counted(name: str) -> str:
    with (MARKS / f"ran-{name}").open("a") as out:
        out.write("x")
    return name


@flow(persist_result=True)
def suspends() -> list:
    first = counted("first")
    pause_flow_run(timeout=120, reschedule=True)
    second = counted("second")
    return [first, second]
"""


SLOW_IMPORT = """
from flows import flow, mark, note_cancel, note_crash, wait_for_mark

mark("importing")
wait_for_mark("go")


@flow(on_cancellation=[note_cancel], on_crashed=[note_crash])
def never_started() -> str:
    mark("body ran")
    return "ran"
"""


@dataclass
class Execution:
    popen: subprocess.Popen[bytes]
    log_path: Path

    def wait(self, timeout: float = 60) -> int:
        return self.popen.wait(timeout=timeout)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Runner:
    cluster: Cluster
    kubeconfig: Path
    workdir: Path
    marks: Path
    home: Path

    def flowrun(self, name: str, entrypoint: str, **spec: Any) -> dict[str, Any]:
        return self.cluster.flowrun(
            name, {"entrypoint": entrypoint, "infrastructure": {"type": "process"}, **spec}
        )

    def execute(self, name: str) -> Execution:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                [str(KFLOW), "execute"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=dict(
                    os.environ,
                    KUBECONFIG=str(self.kubeconfig),
                    KFLOW_FLOW_RUN_NAMESPACE=self.cluster.namespace,
                    KFLOW_FLOW_RUN_NAME=name,
                    KFLOW_HOME=str(self.home),
                    TEST_MARKS=str(self.marks),
                ),
            )
        return Execution(popen, log_path)

    def wait_mark(self, name: str, execution: Execution, timeout: float = 60) -> None:
        def probe() -> bool:
            if execution.popen.poll() is not None:
                raise AssertionError(
                    f"kflow execute exited ({execution.popen.returncode}) before mark {name}:\n"
                    + execution.output()
                )
            return (self.marks / name).exists()

        wait_until(f"mark {name}", probe, timeout)

    def status(self, name: str) -> dict[str, Any]:
        return self.cluster.get_flowrun(name).get("status") or {}

    def history(self, name: str) -> list[str]:
        return [entry["type"] for entry in self.status(name).get("stateHistory") or []]


@pytest.fixture
def runner(cluster: Cluster, kubeconfig: Path, tmp_path: Path) -> Iterator[Runner]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "flows.py").write_text(textwrap.dedent(FLOWS))
    (workdir / "slow_import.py").write_text(textwrap.dedent(SLOW_IMPORT))
    marks = tmp_path / "marks"
    marks.mkdir()
    started: list[Execution] = []
    made = Runner(cluster, kubeconfig, workdir, marks, tmp_path / "home")
    original = made.execute

    def tracked(name: str) -> Execution:
        execution = original(name)
        started.append(execution)
        return execution

    made.execute = tracked  # type: ignore[method-assign]
    yield made
    for execution in started:
        if execution.popen.poll() is None:
            execution.popen.kill()
            execution.popen.wait(10)


def test_completed_run_reports_result_and_task_counts(runner: Runner) -> None:
    runner.flowrun("ok", "flows.py:sums", parameters={"n": 5})
    execution = runner.execute("ok")
    assert execution.wait() == 0, execution.output()
    status = runner.status("ok")
    assert status["state"]["type"] == "COMPLETED"
    assert status["result"]["value"] == {"total": 20, "label": "default"}
    assert status["taskRuns"]["total"] == 5
    assert status["taskRuns"]["counts"]["COMPLETED"] == 5
    assert runner.history("ok") == ["PENDING", "RUNNING", "COMPLETED"]
    assert status["runCount"] == 1
    assert status["startTime"] <= status["endTime"]
    assert status["runName"] and status["flowName"] == "sums"
    assert f"Flow run '{status['runName']}' - Finished in state Completed()" in execution.output()


def test_deployment_parameters_are_merged_under_the_flow_runs(runner: Runner) -> None:
    runner.cluster.deployment(
        "summer",
        {
            "entrypoint": "flows.py:sums",
            "parameters": {"n": 3, "label": "from-deployment"},
            "infrastructure": {"type": "process"},
        },
    )
    runner.cluster.flowrun(
        "merged", {"deploymentRef": {"name": "summer"}, "parameters": {"label": "from-run"}}
    )
    execution = runner.execute("merged")
    assert execution.wait() == 0, execution.output()
    assert runner.status("merged")["result"]["value"] == {"total": 6, "label": "from-run"}


def test_a_run_of_a_deployment_sees_it_in_kflow_runtime(runner: Runner) -> None:
    deployment = runner.cluster.deployment(
        "who",
        {
            "entrypoint": "flows.py:whoami",
            "parameters": {"n": 1},
            "infrastructure": {"type": "process"},
        },
    )
    runner.cluster.flowrun("who-run", {"deploymentRef": {"name": "who"}, "parameters": {"n": 2}})
    execution = runner.execute("who-run")
    assert execution.wait() == 0, execution.output()
    uid = deployment["metadata"]["uid"]
    assert runner.status("who-run")["result"]["value"] == {
        "id": uid,
        "name": "who",
        "parameters": {"n": 1},
        "context": uid,
    }

    runner.flowrun("adhoc", "flows.py:whoami")
    execution = runner.execute("adhoc")
    assert execution.wait() == 0, execution.output()
    # None values do not survive the status merge patch: only the empty parameters remain.
    assert runner.status("adhoc")["result"]["value"] == {"parameters": {}}


def test_failing_flow_ends_failed_with_the_error(runner: Runner) -> None:
    runner.flowrun("bad", "flows.py:fails")
    execution = runner.execute("bad")
    assert execution.wait() == 1
    status = runner.status("bad")
    assert status["state"]["type"] == "FAILED"
    assert "the flow broke on purpose" in status["state"]["message"]
    assert runner.history("bad") == ["PENDING", "RUNNING", "FAILED"]
    assert "ValueError: the flow broke on purpose" in execution.output()


def test_invalid_parameters_fail_from_pending_and_never_run(runner: Runner) -> None:
    runner.flowrun("invalid", "flows.py:sums", parameters={"n": "many"})
    execution = runner.execute("invalid")
    assert execution.wait() == 1
    status = runner.status("invalid")
    assert status["state"]["type"] == "FAILED"
    assert "- n: Input should be a valid integer" in status["state"]["message"]
    assert runner.history("invalid") == ["PENDING", "FAILED"]
    assert "taskRuns" not in status


def test_entrypoint_that_is_missing_or_not_a_flow_fails_with_the_reason(runner: Runner) -> None:
    runner.flowrun("missing", "nowhere.py:sums")
    runner.flowrun("plain", "flows.py:mark")
    for name, reason in (("missing", "does not exist"), ("plain", "not a @flow")):
        execution = runner.execute(name)
        assert execution.wait() == 1
        state = runner.status(name)["state"]
        assert state["type"] == "FAILED"
        assert reason in state["message"]
        assert runner.history(name) == ["PENDING", "FAILED"]


def test_a_run_the_engine_cannot_set_up_fails_with_the_reason(runner: Runner) -> None:
    runner.flowrun("badly-named", "flows.py:badly_named")
    execution = runner.execute("badly-named")
    assert execution.wait() == 1
    state = runner.status("badly-named")["state"]
    assert state["type"] == "FAILED"
    assert "flow_run_name of flow 'badly-named' could not be rendered" in state["message"]
    assert runner.history("badly-named") == ["PENDING", "FAILED"]


def test_missing_deployment_fails_with_its_name(runner: Runner) -> None:
    runner.cluster.flowrun("orphan", {"deploymentRef": {"name": "ghost"}})
    execution = runner.execute("orphan")
    assert execution.wait() == 1
    assert "Deployment 'ghost' does not exist" in runner.status("orphan")["state"]["message"]


def test_spec_cancel_runs_on_cancellation_hooks_and_ends_cancelled(runner: Runner) -> None:
    runner.flowrun("cancel-me", "flows.py:long_steps")
    execution = runner.execute("cancel-me")
    runner.wait_mark("started", execution)
    runner.cluster.cancel("cancel-me")
    assert execution.wait(30) == 1, execution.output()
    assert runner.status("cancel-me")["state"]["type"] == "CANCELLED"
    assert (runner.marks / "on_cancellation").exists(), execution.output()
    assert runner.history("cancel-me")[-2:] == ["RUNNING", "CANCELLED"]


def test_sigterm_after_spec_cancel_takes_the_cancel_path(runner: Runner) -> None:
    """What the operator does: spec.cancel first, then SIGTERM. No infrastructure record (run
    by hand), so the flow itself writes CANCELLED."""
    runner.flowrun("term-me", "flows.py:long_steps")
    execution = runner.execute("term-me")
    runner.wait_mark("started", execution)
    runner.cluster.cancel("term-me")
    execution.popen.send_signal(signal.SIGTERM)
    assert execution.wait(30) == 1, execution.output()
    state = runner.status("term-me")["state"]
    assert state["type"] == "CANCELLED", execution.output()
    assert (runner.marks / "on_cancellation").exists(), execution.output()
    assert not (runner.marks / "on_crashed").exists(), execution.output()


def test_sigterm_without_a_cancel_request_ends_crashed(runner: Runner) -> None:
    """An eviction, a deleted pod, a `docker stop` from outside: nobody asked to cancel."""
    runner.flowrun("term-me", "flows.py:long_steps")
    execution = runner.execute("term-me")
    runner.wait_mark("started", execution)
    execution.popen.send_signal(signal.SIGTERM)
    assert execution.wait(30) == 1, execution.output()
    state = runner.status("term-me")["state"]
    assert state["type"] == "CRASHED", execution.output()
    message = state.get("message", "")
    assert "terminated by SIGTERM without a cancellation request" in message, message
    assert (runner.marks / "on_crashed").exists(), execution.output()
    assert not (runner.marks / "on_cancellation").exists(), execution.output()


def test_an_operator_managed_run_is_left_cancelling_for_the_operator(runner: Runner) -> None:
    """With an infrastructure record the operator declares CANCELLED once the process is gone
    (design.md §5a); the flow runs its hooks and ends leaving the run CANCELLING."""
    runner.flowrun("managed", "flows.py:long_steps")
    pending = {"type": "PENDING", "name": "Pending", "timestamp": _now()}
    infrastructure = {"type": "process", "scope": "test", "id": "1", "pid": "test:1"}
    runner.cluster.patch_flowrun_status(
        "managed", {"state": pending, "infrastructure": infrastructure}
    )
    execution = runner.execute("managed")
    runner.wait_mark("started", execution)
    runner.cluster.cancel("managed")
    write_cancelling(runner, "managed")
    execution.popen.send_signal(signal.SIGTERM)
    assert execution.wait(30) == 1, execution.output()
    assert runner.status("managed")["state"]["type"] == "CANCELLING", execution.output()
    assert "CANCELLED" not in runner.history("managed")
    assert (runner.marks / "on_cancellation").exists(), execution.output()


def write_cancelling(runner: Runner, name: str) -> None:
    """What the operator writes before it signals: read, write at that resourceVersion, and
    on 409 (the flow's status writer got in between) read again and retry."""
    cancelling = {"type": "CANCELLING", "name": "Cancelling", "timestamp": _now()}
    for _ in range(20):
        current = runner.cluster.get_flowrun(name)
        history = current["status"].get("stateHistory", [])
        body = {
            "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
            "status": {"state": cancelling, "stateHistory": [*history, cancelling]},
        }
        try:
            runner.cluster.objects.patch_namespaced_custom_object_status(
                GROUP, VERSION, runner.cluster.namespace, "flowruns", name, body
            )
            return
        except ApiException as error:
            if error.status != 409:
                raise
    raise AssertionError("CANCELLING could not be written in 20 attempts")


def test_sigterm_before_the_flow_starts_crashes_it_without_running_the_body(
    runner: Runner,
) -> None:
    runner.flowrun("early-term", "slow_import.py:never_started")
    execution = runner.execute("early-term")
    runner.wait_mark("importing", execution)
    execution.popen.send_signal(signal.SIGTERM)
    (runner.marks / "go").write_text("x")
    assert execution.wait(30) == 1, execution.output()
    assert runner.status("early-term")["state"]["type"] == "CRASHED", execution.output()
    assert "RUNNING" not in runner.history("early-term")
    assert not (runner.marks / "body ran").exists()
    assert (runner.marks / "on_crashed").exists(), execution.output()


def test_operator_cancelling_is_never_overwritten(runner: Runner) -> None:
    """The operator writes CANCELLING (with resourceVersion, as it does) while the flow is
    about to finish: the flow's COMPLETED must not replace it."""
    runner.flowrun("race", "flows.py:finishes_on_mark")
    execution = runner.execute("race")
    runner.wait_mark("started", execution)
    objects = runner.cluster.objects
    cancelling = {"type": "CANCELLING", "name": "Cancelling", "timestamp": _now()}
    # Like the operator: read, write at that resourceVersion, and on 409 (the flow's status
    # writer got in between) read again and retry.
    for _ in range(20):
        current = runner.cluster.get_flowrun("race")
        history = current["status"].get("stateHistory", [])
        try:
            objects.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                runner.cluster.namespace,
                "flowruns",
                "race",
                {
                    "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                    "status": {"state": cancelling, "stateHistory": [*history, cancelling]},
                },
            )
            break
        except ApiException as error:
            if error.status != 409:
                raise
    else:
        raise AssertionError("CANCELLING could not be written in 20 attempts")
    (runner.marks / "finish").write_text("x")
    execution.wait(30)
    types = runner.history("race")
    assert "COMPLETED" not in types, types
    assert types[types.index("CANCELLING") :] in (["CANCELLING"], ["CANCELLING", "CANCELLED"])
    assert runner.status("race")["state"]["type"] in ("CANCELLING", "CANCELLED")


def test_pause_and_resume_through_the_spec(runner: Runner) -> None:
    runner.flowrun("pausable", "flows.py:long_steps", parameters={"count": 60})
    execution = runner.execute("pausable")
    runner.wait_mark("started", execution)
    runner.cluster.patch_flowrun("pausable", {"paused": True})
    runner.cluster.wait_state("pausable", "PAUSED")
    paused_count = runner.status("pausable")["taskRuns"]["total"]
    assert execution.popen.poll() is None
    runner.cluster.patch_flowrun("pausable", {"paused": False})
    assert execution.wait(60) == 0, execution.output()
    status = runner.status("pausable")
    assert status["state"]["type"] == "COMPLETED"
    assert status["taskRuns"]["counts"]["COMPLETED"] == 60
    assert paused_count < 60
    assert runner.history("pausable") == ["PENDING", "RUNNING", "PAUSED", "RUNNING", "COMPLETED"]
    assert status["runCount"] == 1


def test_pause_in_the_flow_is_resumed_by_the_cli(runner: Runner) -> None:
    runner.flowrun("waits", "flows.py:pauses_inside")
    execution = runner.execute("waits")
    runner.cluster.wait_state("waits", "PAUSED")
    flow_run = runner.cluster.get_flowrun("waits")
    assert flow_run["spec"]["paused"] is True
    assert flow_run["status"]["pause"]["reschedule"] is False
    resumed = subprocess.run(
        [str(KFLOW), "flow-run", "resume", "waits", "-n", runner.cluster.namespace],
        capture_output=True,
        text=True,
        env=dict(os.environ, KUBECONFIG=str(runner.kubeconfig)),
        timeout=60,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert execution.wait(60) == 0, execution.output()
    status = runner.status("waits")
    assert status["result"]["value"] == "resumed"
    assert runner.history("waits")[-3:] == ["PAUSED", "RUNNING", "COMPLETED"]


def test_resume_flow_run_from_another_flow_run_in_the_cluster(runner: Runner) -> None:
    runner.flowrun("waiting", "flows.py:pauses_inside")
    waiting = runner.execute("waiting")
    runner.cluster.wait_state("waiting", "PAUSED")
    runner.flowrun("resumer", "flows.py:resumes", parameters={"other": "waiting"})
    resumer = runner.execute("resumer")
    assert resumer.wait(60) == 0, resumer.output()
    assert waiting.wait(60) == 0, waiting.output()
    assert runner.status("waiting")["result"]["value"] == "resumed"


def test_cancel_while_paused_ends_cancelled_with_hooks(runner: Runner) -> None:
    runner.flowrun("paused-cancel", "flows.py:pauses_inside")
    execution = runner.execute("paused-cancel")
    runner.cluster.wait_state("paused-cancel", "PAUSED")
    runner.cluster.cancel("paused-cancel")
    assert execution.wait(30) == 1, execution.output()
    assert runner.status("paused-cancel")["state"]["type"] == "CANCELLED"
    assert runner.history("paused-cancel")[-2:] == ["PAUSED", "CANCELLED"]
    assert (runner.marks / "on_cancellation").exists(), execution.output()


def test_a_pause_that_outlives_its_timeout_fails_the_run(runner: Runner) -> None:
    runner.flowrun("times-out", "flows.py:pauses_inside", parameters={"timeout": 1})
    execution = runner.execute("times-out")
    assert execution.wait(60) == 1, execution.output()
    state = runner.status("times-out")["state"]
    assert state["type"] == "FAILED"
    assert "not resumed within 1 second" in state["message"]


def test_reschedule_suspends_and_a_restart_reuses_persisted_results(runner: Runner) -> None:
    runner.flowrun("suspend", "flows.py:suspends")
    first = runner.execute("suspend")
    assert first.wait(60) == 0, first.output()
    flow_run = runner.cluster.get_flowrun("suspend")
    assert flow_run["status"]["state"]["type"] == "PAUSED"
    assert flow_run["status"]["state"]["name"] == "Suspended"
    assert flow_run["status"]["pause"]["reschedule"] is True
    assert flow_run["spec"]["paused"] is True
    # What the operator does on resume: spec.paused false → PENDING → start the process again.
    runner.cluster.patch_flowrun("suspend", {"paused": False})
    pending = {"type": "PENDING", "name": "Pending", "timestamp": _now()}
    runner.cluster.patch_flowrun_status("suspend", {"state": pending})
    second = runner.execute("suspend")
    assert second.wait(60) == 0, second.output()
    status = runner.status("suspend")
    assert status["state"]["type"] == "COMPLETED", second.output()
    assert status["result"]["value"] == ["first", "second"]
    assert (runner.marks / "ran-first").read_text() == "x"
    assert (runner.marks / "ran-second").read_text() == "x"
    assert status["runCount"] == 2


def test_a_thousand_task_runs_keep_the_status_small_and_exact(runner: Runner) -> None:
    runner.flowrun("many", "flows.py:many", parameters={"n": 1000})
    modifications = _Modifications(runner, "many")
    execution = runner.execute("many")
    assert execution.wait(120) == 0, execution.output()
    status = runner.status("many")
    modifications.stop()
    assert status["taskRuns"]["total"] == 1000
    assert status["taskRuns"]["counts"]["COMPLETED"] == 1000
    assert sum(status["taskRuns"]["counts"].values()) == 1000
    assert len(status["taskRuns"]["recent"]) == 20
    assert status["result"]["value"] == sum(2 * i for i in range(1000))
    size = len(json.dumps(runner.cluster.get_flowrun("many")))
    assert size < 32 * 1024, size
    # Coalesced: a handful of status writes, not one per task-run state.
    assert modifications.count < 60, modifications.count


class _Modifications:
    """Counts MODIFIED events of one FlowRun while a run goes on (every write is one)."""

    def __init__(self, runner: Runner, name: str) -> None:
        self.count = 0
        self._watch: Any = watch.Watch()  # type: ignore[no-untyped-call]
        objects: client.CustomObjectsApi = runner.cluster.objects
        resource_version = runner.cluster.get_flowrun(name)["metadata"]["resourceVersion"]

        def follow() -> None:
            with contextlib.suppress(urllib3.exceptions.HTTPError):  # stop() cuts the stream
                self._follow(objects, runner, name, resource_version)

        self._thread = threading.Thread(target=follow, daemon=True)
        self._thread.start()

    def _follow(
        self, objects: client.CustomObjectsApi, runner: Runner, name: str, resource_version: str
    ) -> None:
        for event in self._watch.stream(
            objects.list_namespaced_custom_object,
            GROUP,
            VERSION,
            runner.cluster.namespace,
            "flowruns",
            field_selector=f"metadata.name={name}",
            resource_version=resource_version,
            timeout_seconds=180,
        ):
            if event["type"] == "MODIFIED":
                self.count += 1

    def stop(self) -> None:
        self._watch.stop()


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
