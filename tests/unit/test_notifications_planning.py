"""What notifications are due, and what each attempt leaves in the run's status: the delivery
protocol (docs/notifications.md) as pure decisions, on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kflow.resources import DeploymentSpec, FlowRunStatus, WorkPoolSpec
from kflow.resources.notifications import DeliveryPhase, NotificationRecord
from kflow.resources.status_patch import notifications_patch
from kflow.states import StateType
from kflow_operator.decisions.actions import Done, Finish, Wait
from kflow_operator.decisions.run_finalizer import needs_supervision
from kflow_operator.notifications.planning import (
    Delivery,
    NotificationPlan,
    RetryPolicy,
    attempt_event,
    attempted,
    hold_for_notifications,
    plan_notifications,
    with_record,
)
from kflow_operator.notifications.targets import Target, run_targets
from kflow_operator.notifications.transitions import Transition, run_transitions

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(window=timedelta(hours=1))
HOOK = {"urlFrom": {"secretKeyRef": {"name": "hook", "key": "url"}}}


def target(*states: str, name: str | None = None, source: str = "deployment") -> Target:
    deployment = DeploymentSpec.model_validate(
        {
            "entrypoint": "f.py:main",
            "infrastructure": {"type": "process"},
            "notifications": [{"states": list(states), "webhook": HOOK, "name": name}],
        }
    )
    (made,) = run_targets(deployment, None)
    return made


def failed(at: datetime = T0, name: str = "Failed") -> Transition:
    return Transition(StateType.FAILED, name, "boom", at)


def test_a_transition_without_a_record_is_due_once_per_target_that_wants_it() -> None:
    transitions = [
        Transition(StateType.PENDING, "Pending", None, T0 - timedelta(seconds=5)),
        Transition(StateType.RUNNING, "Running", None, T0 - timedelta(seconds=4)),
        failed(),
    ]
    wants = target("FAILED")
    ignores = target("COMPLETED")
    plan = plan_notifications(transitions, [], [wants, ignores], T0, POLICY)
    assert plan.due == (Delivery(wants, failed()),)
    assert plan.outstanding


def test_a_state_name_matches_as_well_as_a_type_but_is_delivered_once() -> None:
    timed_out = failed(name="TimedOut")
    both = target("FAILED", "TimedOut")
    plan = plan_notifications([timed_out], [], [both], T0, POLICY)
    assert plan.due == (Delivery(both, timed_out),)
    late = Transition(StateType.SCHEDULED, "Late", "Late: missed", T0)
    assert plan_notifications([late], [], [target("Late")], T0, POLICY).due
    assert not plan_notifications([late], [], [target("CANCELLED")], T0, POLICY).due


def test_sent_and_given_up_deliveries_are_never_due_again() -> None:
    wants = target("FAILED")
    for phase in (DeliveryPhase.SENT, DeliveryPhase.GAVE_UP):
        record = attempted(Delivery(wants, failed()), None, T0, POLICY).model_copy(
            update={"phase": phase}
        )
        plan = plan_notifications([failed()], [record], [wants], T0 + timedelta(1), POLICY)
        assert plan == NotificationPlan()
        assert not plan.outstanding


def test_a_failed_attempt_is_retried_with_doubling_backoff_until_the_window_closes() -> None:
    wants = target("FAILED")
    delivery = Delivery(wants, failed())
    now = T0
    delays = []
    record = attempted(delivery, "Connection refused", now, POLICY)
    while record.phase is DeliveryPhase.PENDING:
        assert record.next_attempt_time is not None
        delays.append((record.next_attempt_time - now).total_seconds())
        waiting = plan_notifications([failed()], [record], [wants], now, POLICY)
        assert waiting.due == () and waiting.next_attempt == record.next_attempt_time
        now = record.next_attempt_time
        (due,) = plan_notifications([failed()], [record], [wants], now, POLICY).due
        assert due.attempts == record.attempts
        record = attempted(due, "Connection refused", now, POLICY)
    assert delays[:9] == [2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert now == T0 + POLICY.window
    assert record.phase is DeliveryPhase.GAVE_UP
    assert record.attempts == len(delays) + 1
    assert record.last_error == "Connection refused" and record.next_attempt_time is None


def test_a_success_after_failures_records_sent_with_every_attempt_counted() -> None:
    wants = target("FAILED")
    first = attempted(Delivery(wants, failed()), "HTTP 503", T0, POLICY)
    (due,) = plan_notifications([failed()], [first], [wants], T0 + timedelta(seconds=2), POLICY).due
    sent = attempted(due, None, T0 + timedelta(seconds=2), POLICY)
    assert (sent.phase, sent.attempts, sent.sent_at) == (
        DeliveryPhase.SENT,
        2,
        T0 + timedelta(seconds=2),
    )
    assert sent.last_error is None and sent.next_attempt_time is None


def test_a_transition_first_seen_after_the_window_is_not_notified() -> None:
    late_seen = T0 + POLICY.window + timedelta(seconds=1)
    assert plan_notifications([failed()], [], [target("FAILED")], late_seen, POLICY).due == ()


def test_a_pending_record_past_the_window_gets_its_last_attempt() -> None:
    wants = target("FAILED")
    pending = attempted(Delivery(wants, failed()), "refused", T0, POLICY)
    (due,) = plan_notifications([failed()], [pending], [wants], T0 + timedelta(days=1), POLICY).due
    assert attempted(due, "refused", T0 + timedelta(days=1), POLICY).phase is DeliveryPhase.GAVE_UP


def test_records_replace_their_earlier_version_and_stay_bounded() -> None:
    wants = target("FAILED")
    pending = attempted(Delivery(wants, failed()), "refused", T0, POLICY)
    sent = attempted(Delivery(wants, failed(), 1), None, T0, POLICY)
    assert with_record([pending], sent) == [sent]
    old = [
        attempted(Delivery(wants, failed(T0 + timedelta(seconds=i))), None, T0, POLICY)
        for i in range(4)
    ]
    two_hours_ago = T0 - timedelta(hours=2)
    still_pending = attempted(Delivery(wants, failed(two_hours_ago)), "x", two_hours_ago, POLICY)
    assert still_pending.phase is DeliveryPhase.PENDING
    kept = with_record([still_pending, *old[:3]], old[3], limit=3)
    assert kept == [still_pending, old[2], old[3]]


def test_warnings_on_the_first_failure_and_on_giving_up_only() -> None:
    wants = target("FAILED", name="ops")
    first = attempted(Delivery(wants, failed()), "HTTP 500 Internal Server Error", T0, POLICY)
    event = attempt_event(first, POLICY)
    assert event is not None and (event.type, event.reason) == ("Warning", "NotificationFailed")
    assert event.message == (
        "notification ops of Failed (FAILED) failed: HTTP 500 Internal Server Error; "
        "retrying until 2026-12-04T13:00:00Z"
    )
    second = attempted(Delivery(wants, failed(), 1), "again", T0, POLICY)
    assert attempt_event(second, POLICY) is None
    gave_up = attempted(Delivery(wants, failed(), 5), "again", T0 + timedelta(hours=2), POLICY)
    event = attempt_event(gave_up, POLICY)
    assert event is not None and event.reason == "NotificationGaveUp"
    assert "after 6 attempts: again" in event.message
    assert attempt_event(attempted(Delivery(wants, failed()), None, T0, POLICY), POLICY) is None


def test_a_deployments_own_list_even_empty_replaces_the_pools() -> None:
    pool = WorkPoolSpec.model_validate(
        {"type": "process", "notifications": [{"states": ["FAILED"], "webhook": HOOK}]}
    )

    def deployment(**spec: object) -> DeploymentSpec:
        return DeploymentSpec.model_validate({"entrypoint": "f.py:main", **spec})

    from_pool = run_targets(deployment(workPool={"name": "p"}), pool)
    assert [t.id for t in from_pool] == ["workpool[0]"]
    assert run_targets(None, pool)[0].id == "workpool[0]"
    own = deployment(
        workPool={"name": "p"},
        notifications=[
            {"states": ["COMPLETED"], "webhook": HOOK},
            {"name": "mail", "states": ["FAILED"], "webhook": HOOK},
        ],
    )
    assert [t.id for t in run_targets(own, pool)] == ["deployment[0]", "mail"]
    assert run_targets(deployment(workPool={"name": "p"}, notifications=[]), pool) == []
    assert run_targets(None, None) == []


def test_transitions_come_from_the_history_with_the_current_states_full_message() -> None:
    status = FlowRunStatus.model_validate(
        {
            "state": {
                "type": "FAILED",
                "name": "Failed",
                "message": "long " * 300,
                "timestamp": T0,
            },
            "stateHistory": [
                {"type": "SCHEDULED", "name": "Late", "timestamp": T0 - timedelta(seconds=1)},
                {"type": "FAILED", "name": "Failed", "message": "long", "timestamp": T0},
            ],
        }
    )
    found = run_transitions(status)
    assert [(t.type, t.name) for t in found] == [
        (StateType.SCHEDULED, "Late"),
        (StateType.FAILED, "Failed"),
    ]
    assert found[1].message == "long " * 300
    assert all(t.notifiable for t in found)


def test_the_supervisor_holds_on_to_a_run_while_a_retry_is_due_later() -> None:
    retry = T0 + timedelta(seconds=8)
    waiting = NotificationPlan(next_attempt=retry)
    assert hold_for_notifications(Done(), waiting) == Wait(retry)
    assert hold_for_notifications(Wait(T0 + timedelta(minutes=1)), waiting) == Wait(retry)
    assert hold_for_notifications(Wait(), waiting) == Wait(retry)
    assert hold_for_notifications(Wait(T0), waiting) == Wait(T0)
    assert hold_for_notifications(Finish(None), waiting) == Finish(None)
    assert hold_for_notifications(Done(), NotificationPlan()) == Done()


@pytest.mark.parametrize(
    ("phase", "supervised"), [("Pending", True), ("Sent", False), ("GaveUp", False)]
)
def test_a_finished_run_is_supervised_again_while_a_notification_is_pending(
    phase: str, supervised: bool
) -> None:
    record = NotificationRecord(
        target="ops",
        state="FAILED",
        state_name="Failed",
        transition_time=T0,
        phase=DeliveryPhase(phase),
    )
    status = {
        "state": {"type": "FAILED"},
        "conditions": [{"type": "Finished", "status": "True"}],
        "notifications": [record.model_dump(mode="json", by_alias=True, exclude_none=True)],
    }
    assert needs_supervision(status) is supervised


def test_records_are_written_through_the_status_builder_as_the_crd_holds_them() -> None:
    wants = target("FAILED", name="ops")
    pending = attempted(Delivery(wants, failed()), "refused", T0, POLICY)
    patch = notifications_patch([pending])
    assert patch == {
        "notifications": [
            {
                "target": "ops",
                "state": "FAILED",
                "stateName": "Failed",
                "transitionTime": "2026-12-04T12:00:00.000000Z",
                "phase": "Pending",
                "attempts": 1,
                "lastError": "refused",
                "nextAttemptTime": "2026-12-04T12:00:02.000000Z",
            }
        ]
    }
    status = FlowRunStatus.model_validate(patch)
    assert status.notifications == [pending]
