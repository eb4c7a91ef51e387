"""Allow / Forbid / Replace and concurrencyLimit as verdicts over run snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kflow.states import StateType
from kflow_operator.decisions.concurrency import StartVerdict, decide_run, plan_due_runs
from kflow_operator.decisions.deployment_runs import (
    AWAITING_SLOT_NAME,
    ConcurrencyPolicy,
    DeploymentRun,
    RunPolicy,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def due(name: str, seconds_ago: float = 1, state_name: str = "Scheduled") -> DeploymentRun:
    at = NOW - timedelta(seconds=seconds_ago)
    return DeploymentRun(name, StateType.SCHEDULED, state_name, at, at, from_schedule=True)


def active(name: str, state: StateType = StateType.RUNNING, cancel: bool = False) -> DeploymentRun:
    at = NOW - timedelta(hours=1)
    return DeploymentRun(name, state, state.value.title(), at, at, True, cancel_requested=cancel)


def verdicts(runs: list[DeploymentRun], policy: RunPolicy) -> dict[str, StartVerdict]:
    return {name: d.verdict for name, d in plan_due_runs(runs, policy, NOW).decisions.items()}


ALLOW = ConcurrencyPolicy.ALLOW
FORBID = ConcurrencyPolicy.FORBID
REPLACE = ConcurrencyPolicy.REPLACE


def test_allow_without_limit_starts_everything() -> None:
    runs = [active("x"), due("a", 3), due("b", 2)]
    assert verdicts(runs, RunPolicy(concurrency_policy=ALLOW)) == {
        "a": StartVerdict.START,
        "b": StartVerdict.START,
    }


def test_allow_with_limit_makes_the_rest_wait_in_scheduled_order() -> None:
    runs = [active("x"), due("c", 1), due("a", 3), due("b", 2)]
    plan = plan_due_runs(runs, RunPolicy(concurrency_limit=2), NOW)
    assert {n: d.verdict for n, d in plan.decisions.items()} == {
        "a": StartVerdict.START,
        "b": StartVerdict.WAIT,
        "c": StartVerdict.WAIT,
    }
    assert AWAITING_SLOT_NAME in plan.decisions["b"].message
    assert "concurrencyLimit=2" in plan.decisions["b"].message


def test_waiting_runs_start_in_scheduled_order_when_a_slot_frees() -> None:
    waiting = [
        due("late", 5, AWAITING_SLOT_NAME),
        due("early", 50, AWAITING_SLOT_NAME),
        due("middle", 20, AWAITING_SLOT_NAME),
    ]
    policy = RunPolicy(concurrency_limit=1)
    assert verdicts([active("x"), *waiting], policy) == dict.fromkeys(
        ["late", "early", "middle"], StartVerdict.WAIT
    )
    assert verdicts(waiting, policy) == {
        "early": StartVerdict.START,
        "middle": StartVerdict.WAIT,
        "late": StartVerdict.WAIT,
    }


def test_ties_in_scheduled_time_break_by_name_so_every_operator_agrees() -> None:
    runs = [due("b", 1), due("a", 1)]
    assert verdicts(runs, RunPolicy(concurrency_limit=1)) == {
        "a": StartVerdict.START,
        "b": StartVerdict.WAIT,
    }
    assert decide_run("b", runs, RunPolicy(concurrency_limit=1), NOW).verdict is StartVerdict.WAIT


def test_every_active_state_takes_a_slot() -> None:
    for state in (StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING):
        runs = [active("x", state), due("a")]
        assert verdicts(runs, RunPolicy(concurrency_limit=1)) == {"a": StartVerdict.WAIT}, state


def test_finished_runs_take_no_slot() -> None:
    for state in (StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED):
        runs = [active("x", state), due("a")]
        assert verdicts(runs, RunPolicy(concurrency_limit=1)) == {"a": StartVerdict.START}, state


def test_forbid_skips_a_run_while_another_is_active_and_names_it() -> None:
    plan = plan_due_runs([active("x"), due("a")], RunPolicy(concurrency_policy=FORBID), NOW)
    assert plan.decisions["a"].verdict is StartVerdict.SKIP
    assert "Forbid" in plan.decisions["a"].message
    assert "x" in plan.decisions["a"].message


def test_forbid_starts_when_nothing_is_active() -> None:
    assert verdicts([due("a")], RunPolicy(concurrency_policy=FORBID)) == {"a": StartVerdict.START}


def test_forbid_with_runs_due_together_starts_the_most_recent() -> None:
    runs = [due("old", 3), due("new", 1)]
    plan = plan_due_runs(runs, RunPolicy(concurrency_policy=FORBID), NOW)
    assert plan.decisions["new"].verdict is StartVerdict.START
    assert plan.decisions["old"].verdict is StartVerdict.SKIP
    assert "new" in plan.decisions["old"].message


def test_forbid_with_a_limit_counts_slots() -> None:
    policy = RunPolicy(concurrency_policy=FORBID, concurrency_limit=2)
    assert verdicts([active("x"), due("a")], policy) == {"a": StartVerdict.START}
    assert verdicts([active("x"), active("y"), due("a")], policy) == {"a": StartVerdict.SKIP}


def test_replace_cancels_the_active_run_and_starts_the_new_one() -> None:
    plan = plan_due_runs([active("x"), due("a")], RunPolicy(concurrency_policy=REPLACE), NOW)
    assert plan.decisions["a"].verdict is StartVerdict.START
    assert plan.decisions["a"].cancel == ("x",)
    assert plan.cancel == ("x",)


def test_replace_does_not_cancel_again_what_is_already_cancelling() -> None:
    runs = [active("x", StateType.CANCELLING), active("y", cancel=True), due("a")]
    plan = plan_due_runs(runs, RunPolicy(concurrency_policy=REPLACE), NOW)
    assert plan.decisions["a"].verdict is StartVerdict.START
    assert plan.cancel == ()


def test_replace_with_a_limit_cancels_only_the_oldest_excess() -> None:
    x = active("x")
    y = DeploymentRun(
        "y", StateType.RUNNING, "Running", NOW - timedelta(minutes=5), NOW - timedelta(minutes=5)
    )
    policy = RunPolicy(concurrency_policy=REPLACE, concurrency_limit=2)
    plan = plan_due_runs([y, x, due("a")], policy, NOW)
    assert plan.cancel == ("x",)


def test_replace_with_runs_due_together_skips_the_older_as_replaced() -> None:
    plan = plan_due_runs([due("old", 3), due("new", 1)], RunPolicy(concurrency_policy=REPLACE), NOW)
    assert plan.decisions["new"].verdict is StartVerdict.START
    assert plan.decisions["old"].verdict is StartVerdict.SKIP
    assert "replaced" in plan.decisions["old"].message


def test_recheck_at_covers_the_deadline_of_a_waiting_run_and_the_next_due_run() -> None:
    runs = [
        active("x"),
        due("w", 10, AWAITING_SLOT_NAME),
        DeploymentRun(
            "next", StateType.SCHEDULED, "Scheduled", NOW, NOW + timedelta(minutes=1), True
        ),
    ]
    policy = RunPolicy(concurrency_limit=1, starting_deadline_seconds=30)
    assert plan_due_runs(runs, policy, NOW).recheck_at == NOW + timedelta(seconds=20)
    without_deadline = RunPolicy(concurrency_limit=1)
    assert plan_due_runs(runs, without_deadline, NOW).recheck_at == NOW + timedelta(minutes=1)
