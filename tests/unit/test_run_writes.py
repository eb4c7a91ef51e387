"""What the supervisor writes and announces when it carries out each action: the state, its
message, the other status fields, and the Kubernetes Events (what `kubectl describe` and
`kubectl get fr -o yaml` show)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kflow.resources import StateHistoryEntry
from kflow.states import StateType
from kflow_operator.decisions import run_writes
from kflow_operator.decisions.actions import (
    CancelNow,
    Finish,
    Kill,
    MarkCancelled,
    MarkCrashed,
    MarkFailed,
    MarkScheduled,
)
from kflow_operator.decisions.events import Event, replaced_event, state_event
from kflow_operator.decisions.run_writes import NewState, RunWrite
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.identifiers import InfrastructureId
from kflow_operator.infrastructure import Launched, Observation, ObservedPhase

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STAMP = "2026-06-01T12:00:00.000000Z"
EXITED_3 = Observation(ObservedPhase.EXITED, exit_code=3)
EXITED_0 = Observation(ObservedPhase.EXITED, exit_code=0)
KILLED = Observation(ObservedPhase.EXITED, exit_code=137, signal="SIGKILL")
GONE = Observation(ObservedPhase.MISSING, reason="no process with PID 7")


def run(state: str | None = None, launched: bool = False, **status: Any) -> SupervisedRun:
    body_status: dict[str, Any] = dict(status)
    if state is not None:
        body_status["state"] = {"type": state, "name": state.title(), "timestamp": STAMP}
    if launched:
        body_status["infrastructure"] = {
            "type": "process",
            "scope": "h/b",
            "id": "7@70",
            "pid": "h/b:7@70",
            "attempt": 1,
        }
    return SupervisedRun.from_body(
        {
            "metadata": {
                "namespace": "ns",
                "name": "r",
                "uid": "u-1",
                "resourceVersion": "9",
                "generation": 2,
            },
            "spec": {"deploymentRef": {"name": "d"}},
            "status": body_status,
        }
    )


def condition(write: RunWrite, kind: str) -> dict[str, Any]:
    return next(c for c in write.fields["conditions"] if c["type"] == kind)


def test_a_run_not_yet_due_is_shown_scheduled() -> None:
    write = run_writes.scheduled(MarkScheduled("Scheduled for 2026-06-01T13:00:00Z."))
    assert write == RunWrite(
        NewState(StateType.SCHEDULED, "Scheduled", "Scheduled for 2026-06-01T13:00:00Z.")
    )


def test_a_launch_is_recorded_as_pending_with_its_identifier_and_condition() -> None:
    identifier = InfrastructureId("process", "h/b", "7@70")
    write = run_writes.launched(run("SCHEDULED"), Launched(identifier, "/logs/r.log"), 2, NOW)
    assert write.state == NewState(StateType.PENDING, "Pending", "Launched process h/b:7@70.")
    assert write.fields["infrastructure"] == {
        "type": "process",
        "scope": "h/b",
        "id": "7@70",
        "pid": "h/b:7@70",
        "attempt": 2,
        "launchTime": STAMP,
        "exitCode": None,
        "signal": None,
        "logPath": "/logs/r.log",
    }
    launched = condition(write, "Launched")
    assert (launched["status"], launched["reason"]) == ("True", "Launched")
    assert launched["message"] == "Launched process h/b:7@70."
    assert write.events == ()


def test_infrastructure_that_ends_early_crashes_the_run_with_how_it_ended() -> None:
    write = run_writes.crashed(MarkCrashed(EXITED_3))
    assert write.state == NewState(
        StateType.CRASHED,
        "Crashed",
        "The flow's infrastructure exited with code 3 before the run reached a final state.",
    )
    assert write.fields == {"infrastructure": {"exitCode": 3, "signal": None}}
    never = run_writes.crashed(MarkCrashed(EXITED_0, never_reported=True))
    assert never.state is not None
    assert never.state.message.startswith(
        "The flow's infrastructure exited with code 0 before reporting: the flow never started"
    )
    gone = run_writes.crashed(MarkCrashed(GONE))
    assert gone.state is not None
    assert "is gone (no process with PID 7)" in gone.state.message
    assert gone.fields == {}, "no exit code known: none written"


def test_a_failure_carries_its_message() -> None:
    write = run_writes.failed(MarkFailed("LaunchFailed", "image 'x' cannot be pulled"))
    assert write == RunWrite(NewState(StateType.FAILED, "Failed", "image 'x' cannot be pulled"))


def test_a_run_that_never_had_infrastructure_is_finished_by_its_failure() -> None:
    """One write instead of two: nothing was launched, so nothing is left to wait for."""
    never = run_writes.failed(MarkFailed("DeploymentNotFound", "no 'd'"), run(), NOW)
    assert never.finishes
    finished = condition(never, "Finished")
    assert (finished["status"], finished["reason"]) == ("True", "Failed")
    assert finished["message"] == "The run is finished and its infrastructure is gone."

    refused = run_writes.failed(MarkFailed("LaunchFailed", "no image", True), run(), NOW)
    assert refused.finishes
    assert condition(refused, "InfrastructureReady")["status"] == "False"
    assert condition(refused, "Finished")["status"] == "True"

    launched = run_writes.failed(MarkFailed("PauseTimedOut", "late"), run("PAUSED", True), NOW)
    assert not launched.finishes, "its infrastructure is waited for (Finish) as before"
    assert "conditions" not in launched.fields


def test_a_type_without_a_launcher_fails_naming_the_enabled_ones() -> None:
    assert run_writes.no_launcher("docker", {"process": 1, "kubernetes-job": 2}) == MarkFailed(
        "NoLauncher",
        "This operator cannot run infrastructure type 'docker' (enabled: kubernetes-job, process).",
    )
    assert run_writes.no_launcher("docker", []).message.endswith("(enabled: none).")


def test_cancelling_records_the_kill_deadline_before_any_signal() -> None:
    write = run_writes.cancelling(NOW, 30)
    assert write.state == NewState(
        StateType.CANCELLING,
        "Cancelling",
        "Cancelling: stopping the infrastructure; killing it at "
        "2026-06-01T12:00:30.000000Z (30s grace period).",
    )
    assert write.fields == {
        "cancellation": {
            "requestedTime": STAMP,
            "gracePeriodSeconds": 30,
            "killDeadline": "2026-06-01T12:00:30.000000Z",
        }
    }


def test_a_cancellation_without_infrastructure_ends_at_once() -> None:
    write = run_writes.cancelled_now(run("SCHEDULED"), CancelNow("Cancelled before launch."), NOW)
    assert write.state == NewState(StateType.CANCELLED, "Cancelled", "Cancelled before launch.")
    assert write.fields == {"cancellation": {"requestedTime": STAMP}}
    assert write.events == ()


def test_an_unenforceable_cancellation_says_so_in_a_condition_and_a_warning() -> None:
    action = CancelNow("No identifier to stop.", unenforceable=True)
    write = run_writes.cancelled_now(run("RUNNING"), action, NOW)
    failed = condition(write, "CancelFailed")
    assert (failed["status"], failed["reason"], failed["message"]) == (
        "True",
        "NoInfrastructureIdentifier",
        "No identifier to stop.",
    )
    assert write.events == (Event("Warning", "CancelFailed", "No identifier to stop."),)


def test_the_stop_request_restarts_the_grace_period_from_its_own_time() -> None:
    cancelling = run("CANCELLING", launched=True, cancellation={"gracePeriodSeconds": 12})
    write = run_writes.stop_sent(cancelling, NOW)
    assert run_writes.stop_grace_seconds(cancelling) == 12
    assert write.state is None
    assert write.fields == {
        "cancellation": {"stopTime": STAMP, "killDeadline": "2026-06-01T12:00:12.000000Z"}
    }
    assert write.events == (Event("Normal", "StopSent", "Asked h/b:7@70 to stop."),)


def test_a_kill_at_the_deadline_is_recorded_and_a_lingering_one_only_announced() -> None:
    cancelling = run("CANCELLING", launched=True)
    at_deadline = run_writes.killed(cancelling, Kill(), NOW)
    assert at_deadline.fields == {"cancellation": {"killTime": STAMP}}
    assert at_deadline.events == (
        Event("Warning", "Killed", "Grace period over; killed h/b:7@70."),
    )
    lingering = run_writes.killed(run("COMPLETED", launched=True), Kill(lingering=True), NOW)
    assert (lingering.state, dict(lingering.fields)) == (None, {})
    assert lingering.events == (
        Event("Warning", "Killed", "Killed h/b:7@70: still running after the run ended."),
    )


def test_gone_infrastructure_completes_the_cancellation() -> None:
    write = run_writes.cancelled(MarkCancelled(KILLED), NOW)
    assert write.state == NewState(
        StateType.CANCELLED, "Cancelled", "Cancelled: the infrastructure killed by SIGKILL."
    )
    assert write.fields == {
        "infrastructure": {"exitCode": 137, "signal": "SIGKILL"},
        "cancellation": {"goneTime": STAMP},
    }
    unseen = run_writes.cancelled(MarkCancelled(None), NOW)
    assert unseen.state is not None
    assert unseen.state.message == "Cancelled: the infrastructure is gone."


def test_an_unkillable_process_keeps_the_run_cancelling_and_says_so() -> None:
    write = run_writes.unkillable(run("CANCELLING", launched=True), NOW)
    message = "h/b:7@70 is still there after SIGKILL; the run stays CANCELLING."
    assert write.state is None
    failed = condition(write, "CancelFailed")
    assert (failed["reason"], failed["message"]) == ("KillFailed", message)
    assert write.events == (Event("Warning", "CancelFailed", message),)


def test_a_finished_run_gets_the_finished_condition_named_after_its_final_state() -> None:
    write = run_writes.finished(run("COMPLETED", launched=True), Finish(EXITED_3), NOW)
    assert write.state is None
    finished = condition(write, "Finished")
    assert (finished["status"], finished["reason"], finished["message"]) == (
        "True",
        "Completed",
        "The run is finished and its infrastructure is gone.",
    )
    assert write.fields["infrastructure"] == {"exitCode": 3, "signal": None}
    assert condition(run_writes.finished(run(), Finish(None), NOW), "Finished")["reason"] == (
        "Finished"
    )


def test_every_state_change_is_an_event_failures_as_warnings() -> None:
    def entry(state: StateType, name: str, message: str | None) -> StateHistoryEntry:
        return StateHistoryEntry(type=state, name=name, message=message, timestamp=NOW)

    assert state_event(entry(StateType.RUNNING, "Running", None)) == Event(
        "Normal", "Running", "RUNNING"
    )
    assert state_event(entry(StateType.FAILED, "Failed", "boom")) == Event(
        "Warning", "Failed", "FAILED: boom"
    )
    assert state_event(entry(StateType.CRASHED, "Crashed", "gone")).type == "Warning"


def test_a_replaced_run_is_told_which_run_replaced_it() -> None:
    body = {"metadata": {"name": "old"}}
    assert replaced_event(body, "new") == Event(
        "Normal",
        "Replaced",
        "concurrencyPolicy=Replace: cancelled to make room for the newer run new",
        body,
    )
