"""The operator's pure decisions: what to do for a FlowRun given its status, what its
infrastructure is doing, and the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kflow.resources import DeploymentSpec, FlowRunSpec
from kflow.states import StateType
from kflow_operator.decisions.actions import (
    BeginCancel,
    CancelNow,
    Done,
    Finish,
    Kill,
    Launch,
    MarkCancelled,
    MarkCrashed,
    MarkFailed,
    MarkScheduled,
    ReportUnkillable,
    SendStop,
    Wait,
)
from kflow_operator.decisions.cancellation import KILL_CONFIRM_SECONDS, grace_period
from kflow_operator.decisions.launch_plan import plan_launch
from kflow_operator.decisions.lifecycle import LINGER_SECONDS, decide
from kflow_operator.decisions.supervised_run import SupervisedRun, conditions_patch, state_patch
from kflow_operator.infrastructure import RUNNING, LaunchRequest, Observation, ObservedPhase

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EXITED_3 = Observation(ObservedPhase.EXITED, exit_code=3)
GONE = Observation(ObservedPhase.MISSING, reason="no process with PID 7")


def ts(seconds: float = 0) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def run(
    state: str | None = None,
    name: str | None = None,
    spec: dict[str, Any] | None = None,
    launched: bool = False,
    **status: Any,
) -> SupervisedRun:
    body_status: dict[str, Any] = dict(status)
    if state is not None:
        body_status["state"] = {"type": state, "name": name or state.title(), "timestamp": ts(-5)}
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
            "metadata": {"namespace": "ns", "name": "r", "uid": "u-1", "resourceVersion": "9"},
            "spec": {"deploymentRef": {"name": "d"}, **(spec or {})},
            "status": body_status,
        }
    )


# --- launching ---------------------------------------------------------------------------------


def test_a_new_run_is_launched() -> None:
    assert decide(run(), None, False, NOW) == Launch()
    assert decide(run("SCHEDULED"), None, False, NOW) == Launch()


def test_a_run_scheduled_later_is_shown_scheduled_at_once() -> None:
    later = run(spec={"scheduledTime": ts(60)})
    assert decide(later, None, False, NOW) == MarkScheduled("Scheduled for 2026-06-01T12:01:00Z.")


def test_a_scheduled_run_waits_for_its_time_then_launches() -> None:
    later = run("SCHEDULED", "Scheduled", spec={"scheduledTime": ts(60)})
    assert decide(later, None, False, NOW) == Wait(NOW + timedelta(seconds=60))
    assert decide(later, None, False, NOW + timedelta(seconds=60)) == Launch()


def test_the_scheduled_time_keeps_its_fraction_in_the_message() -> None:
    later = run(spec={"scheduledTime": ts(60.25)})
    assert decide(later, None, False, NOW) == MarkScheduled(
        "Scheduled for 2026-06-01T12:01:00.250000Z."
    )


@pytest.mark.parametrize("scheduled", [None, ts(0), ts(-60)])
def test_a_due_run_without_a_state_is_launched_without_a_scheduled_step(
    scheduled: str | None,
) -> None:
    spec = {} if scheduled is None else {"scheduledTime": scheduled}
    assert decide(run(spec=spec), None, False, NOW) == Launch()


def test_a_run_cancelled_before_its_time_is_cancelled_without_launching() -> None:
    for state in (None, "SCHEDULED"):
        cancelled = run(state, spec={"scheduledTime": ts(3600), "cancel": True})
        assert decide(cancelled, None, False, NOW) == CancelNow("Cancelled before it started.")


def test_the_scheduled_state_passes_the_transition_rule_once() -> None:
    fresh = run(spec={"scheduledTime": ts(60)})
    action = decide(fresh, None, False, NOW)
    assert isinstance(action, MarkScheduled)
    patch = state_patch(fresh, StateType.SCHEDULED, "Scheduled", action.message, NOW)
    assert patch is not None
    assert patch["state"]["type"] == "SCHEDULED" and patch["state"]["name"] == "Scheduled"
    assert [entry["type"] for entry in patch["stateHistory"]] == ["SCHEDULED"]
    assert "endTime" not in patch


@pytest.mark.parametrize(
    "held", ["AwaitingConcurrencySlot", "Late", "PoolPaused", "AwaitingWorkPool"]
)
def test_held_scheduled_runs_are_left_to_the_deployment_reconciler(held: str) -> None:
    assert decide(run("SCHEDULED", held), None, False, NOW) == Wait()
    ahead = run("SCHEDULED", held, spec={"scheduledTime": ts(60)})
    assert decide(ahead, None, False, NOW) == Wait()


@pytest.mark.parametrize("held", ["AwaitingConcurrencySlot", "PoolPaused", "AwaitingWorkPool"])
def test_a_pool_held_run_of_no_deployment_asks_the_launch_gate_again(held: str) -> None:
    """No scheduling pass releases it: its supervisor asks again whenever it is woken."""
    ad_hoc = {"deploymentRef": None, "entrypoint": "f.py:main", "workPool": {"name": "shared"}}
    assert decide(run("SCHEDULED", held, spec=ad_hoc), None, False, NOW) == Launch()


def test_a_run_already_past_pending_is_never_launched_again() -> None:
    assert decide(run("RUNNING"), None, False, NOW) == Wait()


# --- watching ----------------------------------------------------------------------------------


def test_running_infrastructure_is_waited_on() -> None:
    assert decide(run("RUNNING", launched=True), RUNNING, True, NOW) == Wait()


@pytest.mark.parametrize("state", ["PENDING", "RUNNING", "PAUSED"])
@pytest.mark.parametrize("observed", [EXITED_3, GONE])
def test_infrastructure_ending_early_crashes_the_run(state: str, observed: Observation) -> None:
    never_reported = state == "PENDING"
    assert decide(run(state, launched=True), observed, True, NOW) == MarkCrashed(
        observed, never_reported
    )


def test_foreign_infrastructure_is_never_touched() -> None:
    assert decide(run("RUNNING", launched=True), None, False, NOW) == Wait()
    cancelled = run("RUNNING", spec={"cancel": True}, launched=True)
    assert decide(cancelled, None, False, NOW) == Wait()


def test_a_rescheduled_pause_relaunches_on_resume_and_fails_on_timeout() -> None:
    paused = {"pause": {"reschedule": True, "timeoutTime": ts(30)}}
    waiting = run("PAUSED", "Suspended", spec={"paused": True}, launched=True, **paused)
    assert decide(waiting, GONE, True, NOW) == Wait(NOW + timedelta(seconds=30))
    assert isinstance(decide(waiting, GONE, True, NOW + timedelta(seconds=30)), MarkFailed)
    assert decide(waiting, RUNNING, True, NOW) == Wait()
    resumed = run("PAUSED", "Suspended", spec={"paused": False}, launched=True, **paused)
    assert decide(resumed, GONE, True, NOW) == Launch()


# --- the end -----------------------------------------------------------------------------------


def test_a_finished_run_records_how_its_infrastructure_ended() -> None:
    done = run("COMPLETED", launched=True)
    exited_0 = Observation(ObservedPhase.EXITED, exit_code=0)
    assert decide(done, exited_0, True, NOW) == Finish(exited_0)
    assert decide(run("FAILED"), None, False, NOW) == Finish(None)


def test_a_lingering_process_is_killed_after_the_run_ended() -> None:
    done = run("COMPLETED", launched=True)
    ended = NOW - timedelta(seconds=5)
    assert decide(done, RUNNING, True, NOW) == Wait(ended + timedelta(seconds=LINGER_SECONDS))
    assert decide(done, RUNNING, True, ended + timedelta(seconds=LINGER_SECONDS)) == Kill(True)


def test_done_once_finished() -> None:
    finished = run(
        "CRASHED",
        conditions=[{"type": "Finished", "status": "True", "lastTransitionTime": ts()}],
    )
    assert decide(finished, None, False, NOW) == Done()


# --- cancellation ------------------------------------------------------------------------------


def cancelling(**steps: str) -> SupervisedRun:
    return run(
        "CANCELLING",
        spec={"cancel": True},
        launched=True,
        cancellation={"requestedTime": ts(-5), "killDeadline": ts(25), **steps},
    )


@pytest.mark.parametrize("state", [None, "SCHEDULED", "PENDING"])
def test_cancel_before_start(state: str | None) -> None:
    assert decide(run(state, spec={"cancel": True}), None, False, NOW) == CancelNow(
        "Cancelled before it started."
    )


def test_cancel_without_identifier_is_unenforceable() -> None:
    action = decide(run("RUNNING", spec={"cancel": True}), None, False, NOW)
    assert isinstance(action, CancelNow) and action.unenforceable


def test_cancel_steps_in_order() -> None:
    running = run("RUNNING", spec={"cancel": True}, launched=True)
    assert decide(running, RUNNING, True, NOW) == BeginCancel()
    assert decide(cancelling(), RUNNING, True, NOW) == SendStop()
    stopped = cancelling(stopTime=ts(-4))
    assert decide(stopped, RUNNING, True, NOW) == Wait(NOW + timedelta(seconds=25))
    assert decide(stopped, RUNNING, True, NOW + timedelta(seconds=25)) == Kill()
    killed = cancelling(stopTime=ts(-4), killTime=ts(25))
    confirm = NOW + timedelta(seconds=25 + KILL_CONFIRM_SECONDS)
    assert decide(killed, RUNNING, True, NOW + timedelta(seconds=26)) == Wait(confirm)
    assert decide(killed, RUNNING, True, confirm) == ReportUnkillable()


@pytest.mark.parametrize("observed", [EXITED_3, GONE])
def test_gone_infrastructure_ends_a_cancellation(observed: Observation) -> None:
    assert decide(cancelling(), observed, True, NOW) == MarkCancelled(observed)
    running = run("RUNNING", spec={"cancel": True}, launched=True)
    assert decide(running, observed, True, NOW) == MarkCancelled(observed)


def test_terminal_wins_over_cancel() -> None:
    done = run("COMPLETED", spec={"cancel": True})
    assert decide(done, None, False, NOW) == Finish(None)


def test_grace_period_precedence() -> None:
    deployment = DeploymentSpec.model_validate(
        {
            "entrypoint": "f.py:main",
            "infrastructure": {"type": "process"},
            "cancelGracePeriodSeconds": 7,
        }
    )
    own = FlowRunSpec.model_validate(
        {"deploymentRef": {"name": "d"}, "cancelGracePeriodSeconds": 2}
    )
    plain = FlowRunSpec.model_validate({"deploymentRef": {"name": "d"}})
    assert grace_period(own, deployment) == 2
    assert grace_period(plain, deployment) == 7
    assert grace_period(plain, None) == 30


# --- launch plan and status patches ------------------------------------------------------------


def test_launch_plan_merges_env_and_names_the_run() -> None:
    deployment = DeploymentSpec.model_validate(
        {
            "entrypoint": "f.py:main",
            "infrastructure": {"type": "process", "env": {"A": "1", "KFLOW_FLOW_RUN_NAME": "x"}},
        }
    )
    plan = plan_launch(run(), deployment)
    assert isinstance(plan, LaunchRequest)
    assert plan.env == {
        "A": "1",
        "KFLOW_FLOW_RUN_NAMESPACE": "ns",
        "KFLOW_FLOW_RUN_NAME": "r",
        "KFLOW_FLOW_RUN_UID": "u-1",
    }
    assert plan.attempt == 1 and plan.launch_key == "u-1-1"
    relaunch = plan_launch(run("PAUSED", launched=True), deployment)
    assert isinstance(relaunch, LaunchRequest) and relaunch.attempt == 2


def test_launch_plan_for_a_missing_deployment_fails() -> None:
    failed = plan_launch(run(), None)
    assert isinstance(failed, MarkFailed)
    assert failed.message.startswith("Deployment 'd' not found in namespace 'ns'")


def test_state_patch_goes_through_the_transition_rule() -> None:
    patch = state_patch(run("RUNNING"), StateType.CRASHED, "Crashed", "boom", NOW)
    assert patch is not None
    assert patch["state"] == {
        "type": "CRASHED",
        "name": "Crashed",
        "message": "boom",
        "timestamp": "2026-06-01T12:00:00.000000Z",
    }
    assert patch["endTime"] == "2026-06-01T12:00:00.000000Z"
    assert [entry["type"] for entry in patch["stateHistory"]] == ["CRASHED"]
    assert state_patch(run("COMPLETED"), StateType.CRASHED, "Crashed", "x", NOW) is None
    assert state_patch(run("CANCELLING"), StateType.CRASHED, "Crashed", "x", NOW) is None


def test_condition_transition_time_moves_only_with_its_status() -> None:
    first = conditions_patch(run(), "Launched", True, "Launched", "a", NOW)
    again = run(conditions=first)
    later = NOW + timedelta(seconds=9)
    (same,) = conditions_patch(again, "Launched", True, "Launched", "b", later)
    assert same["lastTransitionTime"] == first[0]["lastTransitionTime"]
    (flipped,) = conditions_patch(again, "Launched", False, "Gone", "c", later)
    assert flipped["lastTransitionTime"] == "2026-06-01T12:00:09.000000Z"


def test_cancelling_a_suspended_run_needs_no_process_to_stop() -> None:
    suspended = run(
        "PAUSED", "Suspended", spec={"cancel": True}, launched=True, pause={"reschedule": True}
    )
    action = decide(suspended, GONE, True, NOW)
    assert action == CancelNow("Cancelled while suspended; no process was running.")
    assert decide(suspended, RUNNING, True, NOW) == BeginCancel()
