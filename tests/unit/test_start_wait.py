"""A launched run whose infrastructure has not started the flow: which wait becomes which
PENDING message and InfrastructureReady condition, one write per change of reason, and CRASHED
(with what was created removed at once) past the start deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kflow.states import StateType
from kflow_operator.decisions import run_writes
from kflow_operator.decisions.actions import (
    GiveUpStart,
    Kill,
    MarkFailed,
    ReportStarted,
    ReportWaiting,
    Wait,
)
from kflow_operator.decisions.lifecycle import decide
from kflow_operator.decisions.run_writes import NewState
from kflow_operator.decisions.supervised_run import SupervisedRun, state_patch
from kflow_operator.infrastructure import RUNNING, Observation, ObservedPhase, StartWait

LAUNCHED = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW = LAUNCHED + timedelta(seconds=20)
DEADLINE = 300.0

PULL = StartWait(
    "ErrImagePull",
    'pod etl-1-abcde waits: ErrImagePull: failed to pull and unpack image "registry.invalid/'
    'kflow/missing:1": dial tcp: lookup registry.invalid: no such host',
)
BACK_OFF = StartWait(
    "ImagePullBackOff", 'pod etl-1-abcde waits: ImagePullBackOff: Back-off pulling image "…"'
)
UNSCHEDULABLE = StartWait(
    "Unschedulable",
    "pod etl-1-abcde waits: Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.",
)


def stamp(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def waiting(wait: StartWait) -> Observation:
    return Observation(ObservedPhase.RUNNING, waiting=wait)


def run(state: str = "PENDING", ready: tuple[str, str] | None = None) -> SupervisedRun:
    """A Job run launched at LAUNCHED; `ready` = (status, reason) of InfrastructureReady."""
    status: dict[str, Any] = {
        "state": {"type": state, "name": state.title(), "timestamp": stamp(LAUNCHED)},
        "infrastructure": {
            "type": "kubernetes-job",
            "scope": "cluster-1",
            "id": "ns/etl-1@j1",
            "pid": "cluster-1:ns/etl-1",
            "attempt": 1,
            "launchTime": stamp(LAUNCHED),
        },
    }
    if ready is not None:
        status["conditions"] = [
            {
                "type": "InfrastructureReady",
                "status": ready[0],
                "reason": ready[1],
                "message": "…",
                "lastTransitionTime": stamp(LAUNCHED),
            }
        ]
    return SupervisedRun.from_body(
        {
            "metadata": {"namespace": "ns", "name": "r", "uid": "u-1", "resourceVersion": "9"},
            "spec": {"deploymentRef": {"name": "d"}},
            "status": status,
        }
    )


def decided(r: SupervisedRun, observed: Observation, now: datetime = NOW) -> object:
    return decide(r, observed, True, now, DEADLINE)


# --- which wait is reported, and when ----------------------------------------------------------


@pytest.mark.parametrize("wait", [PULL, UNSCHEDULABLE])
def test_a_new_wait_is_reported(wait: StartWait) -> None:
    assert decided(run(), waiting(wait)) == ReportWaiting(wait)


def test_a_reported_wait_is_not_written_again_until_its_reason_changes() -> None:
    reported = run(ready=("False", "ErrImagePull"))
    gives_up = LAUNCHED + timedelta(seconds=DEADLINE)
    assert decided(reported, waiting(PULL)) == Wait(gives_up)
    assert decided(reported, waiting(BACK_OFF)) == Wait(gives_up), (
        "the kubelet's pull retries alternate ErrImagePull and ImagePullBackOff: one wait"
    )
    assert decided(run(ready=("False", "ImagePullBackOff")), waiting(PULL)) == Wait(gives_up)
    assert decided(reported, waiting(UNSCHEDULABLE)) == ReportWaiting(UNSCHEDULABLE)


def test_a_wait_after_a_started_condition_is_reported_again() -> None:
    assert decided(run(ready=("True", "WaitOver")), waiting(PULL)) == ReportWaiting(PULL)


def test_the_end_of_a_reported_wait_is_reported_once() -> None:
    assert decided(run(ready=("False", "ErrImagePull")), RUNNING) == ReportStarted()
    assert decided(run("RUNNING", ready=("False", "ErrImagePull")), RUNNING) == ReportStarted()
    assert decided(run(ready=("True", "WaitOver")), RUNNING) == Wait(
        LAUNCHED + timedelta(seconds=DEADLINE)
    ), "reported over: nothing to write until the deadline, if the flow never reports"
    assert decided(run(), RUNNING) == Wait(LAUNCHED + timedelta(seconds=DEADLINE)), (
        "no wait, no condition: nothing to write, but look again at the start deadline"
    )


def test_a_run_the_flow_reports_on_is_left_to_it() -> None:
    assert decided(run("RUNNING"), waiting(PULL)) == Wait()


# --- the start deadline ------------------------------------------------------------------------


def test_past_the_start_deadline_counted_from_the_launch_the_run_gives_up() -> None:
    at_deadline = LAUNCHED + timedelta(seconds=DEADLINE)
    assert decided(run(), waiting(UNSCHEDULABLE), at_deadline - timedelta(seconds=1)) == (
        ReportWaiting(UNSCHEDULABLE)
    )
    expected = GiveUpStart(UNSCHEDULABLE, DEADLINE)
    assert decided(run(), waiting(UNSCHEDULABLE), at_deadline) == expected
    assert decided(run(ready=("False", "Unschedulable")), waiting(UNSCHEDULABLE), at_deadline) == (
        expected
    )


def test_the_deadline_is_the_operators_setting() -> None:
    late = LAUNCHED + timedelta(seconds=61)
    assert decide(run(), waiting(PULL), True, late, 60.0) == GiveUpStart(PULL, 60.0)
    assert decide(run(), waiting(PULL), True, late) == ReportWaiting(PULL), "default 300 s"


def test_running_infrastructure_whose_flow_never_reports_gives_up_at_the_deadline() -> None:
    """An entrypoint whose import never ends: the process runs, the run stays PENDING."""
    at_deadline = LAUNCHED + timedelta(seconds=DEADLINE)
    assert decided(run(), RUNNING, at_deadline - timedelta(seconds=1)) == Wait(at_deadline)
    given_up = decided(run(), RUNNING, at_deadline)
    assert isinstance(given_up, GiveUpStart) and given_up.waiting.reason == "NotReported"
    assert "ran 300s without reporting RUNNING" in given_up.waiting.message
    assert decided(run("RUNNING"), RUNNING, at_deadline) == Wait(), "it reported: no deadline"


def test_what_never_started_is_removed_at_once_once_the_run_is_over() -> None:
    crashed = run("CRASHED", ready=("False", "Unschedulable"))
    assert decided(crashed, waiting(UNSCHEDULABLE)) == Kill(lingering=True, never_started=True)
    gave_up = run("CRASHED", ready=("False", "NotReported"))
    assert decided(gave_up, RUNNING) == Kill(lingering=True, never_started=True), (
        "a process that never reported is killed at once, not after lingering"
    )


# --- what is written ---------------------------------------------------------------------------


def condition(fields: Any) -> dict[str, Any]:
    (found,) = [c for c in fields["conditions"] if c["type"] == "InfrastructureReady"]
    return dict(found)


def test_a_wait_is_written_as_the_pending_message_and_a_false_condition() -> None:
    r = run()
    write = run_writes.waiting(r, ReportWaiting(PULL), NOW)
    assert write.state == NewState(StateType.PENDING, "Pending", PULL.message)
    assert {k: v for k, v in condition(write.fields).items() if k != "observedGeneration"} == {
        "type": "InfrastructureReady",
        "status": "False",
        "reason": "ErrImagePull",
        "message": PULL.message,
        "lastTransitionTime": "2026-06-01T12:00:20.000000Z",
    }
    moved = state_patch(r, write.state.type, write.state.name, write.state.message, NOW)
    assert moved is not None, "PENDING may replace PENDING"
    assert moved["state"]["message"] == PULL.message
    assert [h["message"] for h in moved["stateHistory"]] == [PULL.message]


def test_giving_up_crashes_naming_the_deadline_and_the_wait() -> None:
    r = run(ready=("False", "Unschedulable"))
    write = run_writes.gave_up(r, GiveUpStart(UNSCHEDULABLE, DEADLINE), NOW)
    assert write.state is not None and write.state.type is StateType.CRASHED
    assert write.state.message == (
        "The flow's infrastructure did not start within 300s (the operator's "
        "--start-deadline-seconds): pod etl-1-abcde waits: Unschedulable: 0/1 nodes are "
        "available: 1 Insufficient cpu."
    )
    assert condition(write.fields)["reason"] == "Unschedulable"
    assert condition(write.fields)["status"] == "False"


def test_the_end_of_a_wait_sets_the_condition_true() -> None:
    write = run_writes.started(run(ready=("False", "ErrImagePull")), NOW)
    assert write.state is None
    assert condition(write.fields)["status"] == "True"
    assert condition(write.fields)["reason"] == "WaitOver"


def test_removing_what_never_started_is_announced_as_such() -> None:
    r = run("CRASHED")
    write = run_writes.killed(r, Kill(lingering=True, never_started=True), NOW)
    assert [(e.type, e.reason, e.message) for e in write.events] == [
        ("Normal", "Removed", "Removed cluster-1:ns/etl-1@j1: it never started the flow.")
    ]
    assert not write.fields


def test_an_image_that_cannot_be_had_fails_with_the_condition_too() -> None:
    failure = MarkFailed("ErrImagePull", "image 'registry.invalid/x:1' … no such host", True)
    write = run_writes.failed(failure, run(), NOW)
    assert write.state == NewState(StateType.FAILED, "Failed", failure.message)
    assert condition(write.fields)["reason"] == "ErrImagePull"
    assert condition(write.fields)["message"] == failure.message
