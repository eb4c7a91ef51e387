"""Catch-up after downtime and the starting deadline, as decisions over run snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kflow.resources import format_timestamp
from kflow.resources.deployment import CatchupPolicy
from kflow.states import StateType
from kflow_operator.decisions.catchup import missed_fire_times_to_create, plan_catchup
from kflow_operator.decisions.concurrency import StartVerdict, decide_run, plan_due_runs
from kflow_operator.decisions.deployment_runs import (
    AWAITING_SLOT_NAME,
    LATE_NAME,
    DeploymentRun,
    RunPolicy,
)
from kflow_operator.scheduling.run_bodies import SCHEDULED_LABEL
from kflow_operator.scheduling.views import deployment_run

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def scheduled(name: str, minutes_ago: float, state_name: str = "Scheduled") -> DeploymentRun:
    due = NOW - timedelta(minutes=minutes_ago)
    return DeploymentRun(
        name=name,
        state_type=StateType.SCHEDULED,
        state_name=state_name,
        created=due - timedelta(hours=1),
        scheduled_time=due,
        from_schedule=True,
    )


def verdicts(runs: list[DeploymentRun], policy: RunPolicy) -> dict[str, StartVerdict]:
    return {name: d.verdict for name, d in plan_due_runs(runs, policy, NOW).decisions.items()}


def test_on_time_run_starts_whatever_the_catchup_policy() -> None:
    run = scheduled("a", minutes_ago=0.05)
    for catchup in CatchupPolicy:
        assert verdicts([run], RunPolicy(catchup=catchup)) == {"a": StartVerdict.START}


def test_catchup_none_skips_every_missed_run_with_a_message() -> None:
    runs = [scheduled("a", 30), scheduled("b", 20), scheduled("c", 10)]
    plan = plan_due_runs(runs, RunPolicy(catchup=CatchupPolicy.NONE), NOW)
    assert {d.verdict for d in plan.decisions.values()} == {StartVerdict.SKIP}
    assert "catchup=None" in plan.decisions["c"].message
    assert "2026-06-01T11:50:00Z" in plan.decisions["c"].message


def test_catchup_latest_runs_only_the_most_recent_missed_run() -> None:
    runs = [scheduled("a", 30), scheduled("b", 20), scheduled("c", 10)]
    plan = plan_due_runs(runs, RunPolicy(catchup=CatchupPolicy.LATEST), NOW)
    assert {n: d.verdict for n, d in plan.decisions.items()} == {
        "a": StartVerdict.SKIP,
        "b": StartVerdict.SKIP,
        "c": StartVerdict.START,
    }
    assert "c runs instead" in plan.decisions["a"].message


def test_catchup_latest_prefers_an_on_time_run_over_every_missed_one() -> None:
    runs = [scheduled("a", 30), scheduled("b", 0.01)]
    assert verdicts(runs, RunPolicy(catchup=CatchupPolicy.LATEST)) == {
        "a": StartVerdict.SKIP,
        "b": StartVerdict.START,
    }


def test_catchup_all_runs_missed_runs_up_to_the_limit_newest_kept() -> None:
    runs = [scheduled(f"r{i}", minutes_ago=50 - i) for i in range(5)]
    plan = plan_due_runs(runs, RunPolicy(catchup=CatchupPolicy.ALL, catchup_limit=3), NOW)
    assert {n: d.verdict for n, d in plan.decisions.items()} == {
        "r0": StartVerdict.SKIP,
        "r1": StartVerdict.SKIP,
        "r2": StartVerdict.START,
        "r3": StartVerdict.START,
        "r4": StartVerdict.START,
    }
    assert "catchupLimit=3" in plan.decisions["r0"].message


def test_deadline_skips_runs_whatever_the_catchup_policy() -> None:
    runs = [scheduled("old", 10), scheduled("fresh", 0.5)]
    policy = RunPolicy(catchup=CatchupPolicy.ALL, starting_deadline_seconds=60)
    plan = plan_due_runs(runs, policy, NOW)
    assert plan.decisions["old"].verdict is StartVerdict.SKIP
    assert "startingDeadlineSeconds=60" in plan.decisions["old"].message
    assert plan.decisions["fresh"].verdict is StartVerdict.START


def test_deadline_of_zero_still_starts_a_run_exactly_on_time() -> None:
    run = scheduled("a", 0)
    assert verdicts([run], RunPolicy(starting_deadline_seconds=0)) == {"a": StartVerdict.START}


def test_deadline_applies_to_runs_waiting_for_a_slot() -> None:
    running = DeploymentRun("busy", StateType.RUNNING, "Running", NOW - timedelta(hours=1))
    waiting = scheduled("w", 5, state_name=AWAITING_SLOT_NAME)
    policy = RunPolicy(concurrency_limit=1, starting_deadline_seconds=120)
    assert verdicts([running, waiting], policy) == {"w": StartVerdict.SKIP}


def test_a_waiting_run_is_not_missed_however_long_it_waited() -> None:
    waiting = scheduled("w", 30, state_name=AWAITING_SLOT_NAME)
    assert verdicts([waiting], RunPolicy(catchup=CatchupPolicy.NONE)) == {"w": StartVerdict.START}


def test_a_run_left_late_by_a_crash_between_two_writes_is_skipped_again() -> None:
    run = scheduled("a", 0.01, state_name=LATE_NAME)
    assert verdicts([run], RunPolicy()) == {"a": StartVerdict.SKIP}


def test_runs_started_by_hand_are_never_caught_up_or_late() -> None:
    by_hand = DeploymentRun(
        "manual", StateType.SCHEDULED, "Scheduled", created=NOW - timedelta(hours=2)
    )
    policy = RunPolicy(catchup=CatchupPolicy.NONE, starting_deadline_seconds=1, paused=True)
    assert verdicts([by_hand], policy) == {"manual": StartVerdict.START}


def test_paused_deployment_skips_due_scheduled_runs() -> None:
    plan = plan_due_runs([scheduled("a", 0)], RunPolicy(paused=True), NOW)
    assert plan.decisions["a"].verdict is StartVerdict.SKIP
    assert "paused" in plan.decisions["a"].message


def test_runs_not_yet_due_are_left_alone_and_recheck_at_their_time() -> None:
    future = scheduled("f", minutes_ago=-5)
    plan = plan_due_runs([future], RunPolicy(), NOW)
    assert plan.decisions == {}
    assert plan.recheck_at == NOW + timedelta(minutes=5)
    decision = decide_run("f", [future], RunPolicy(), NOW)
    assert (decision.verdict, decision.recheck_at) == (
        StartVerdict.NOT_DUE,
        NOW + timedelta(minutes=5),
    )


def test_started_and_cancelled_runs_are_not_candidates() -> None:
    running = DeploymentRun("r", StateType.RUNNING, "Running", NOW)
    cancelled = DeploymentRun(
        "c", StateType.SCHEDULED, "Scheduled", NOW, NOW, from_schedule=True, cancel_requested=True
    )
    assert plan_due_runs([running, cancelled], RunPolicy(), NOW).decisions == {}
    assert decide_run("r", [running], RunPolicy(), NOW).verdict is StartVerdict.NOT_DUE
    assert decide_run("ghost", [running], RunPolicy(), NOW).verdict is StartVerdict.NOT_DUE


def test_plan_catchup_keeps_scheduled_order() -> None:
    runs = [scheduled("b", 0.02), scheduled("a", 0.01), scheduled("c", 0.03)]
    plan = plan_catchup(runs, RunPolicy(), NOW)
    assert [run.name for run in plan.keep] == ["c", "b", "a"]


# --- fire times that fell into downtime and have no FlowRun yet -------------------------


def minutes_ago(*values: int) -> list[datetime]:
    return [NOW - timedelta(minutes=value) for value in values]


def test_missed_times_created_per_policy() -> None:
    missed = minutes_ago(30, 20, 10)
    assert (
        missed_fire_times_to_create(missed, False, RunPolicy(catchup=CatchupPolicy.NONE), NOW) == ()
    )
    assert missed_fire_times_to_create(
        missed, False, RunPolicy(catchup=CatchupPolicy.LATEST), NOW
    ) == (NOW - timedelta(minutes=10),)
    assert (
        missed_fire_times_to_create(missed, True, RunPolicy(catchup=CatchupPolicy.LATEST), NOW)
        == ()
    )
    assert missed_fire_times_to_create(
        missed, False, RunPolicy(catchup=CatchupPolicy.ALL, catchup_limit=2), NOW
    ) == tuple(minutes_ago(20, 10))


def test_missed_times_past_the_deadline_or_while_paused_are_not_created() -> None:
    missed = minutes_ago(30, 20, 10)
    policy = RunPolicy(catchup=CatchupPolicy.ALL, starting_deadline_seconds=15 * 60)
    assert missed_fire_times_to_create(missed, False, policy, NOW) == tuple(minutes_ago(10))
    paused = RunPolicy(catchup=CatchupPolicy.ALL, paused=True)
    assert missed_fire_times_to_create(missed, False, paused, NOW) == ()
    assert missed_fire_times_to_create([], False, RunPolicy(), NOW) == ()


def test_a_run_released_from_a_slot_wait_is_not_missed_however_late() -> None:
    """A run that waited for a slot (its Deployment's or its pool's) and was released is back
    in `Scheduled`; it was seen on time, so catch-up never skips it as missed (it was skipped
    as "missed while no operator was scheduling" when the release came over 5 s late)."""
    due = NOW - timedelta(seconds=30)
    history = [
        {"type": "SCHEDULED", "name": "Scheduled", "timestamp": format_timestamp(due)},
        {"type": "SCHEDULED", "name": AWAITING_SLOT_NAME, "timestamp": format_timestamp(due)},
        {"type": "SCHEDULED", "name": "Scheduled", "timestamp": format_timestamp(NOW)},
    ]
    released = deployment_run(
        {
            "metadata": {
                "name": "released",
                "creationTimestamp": format_timestamp(due - timedelta(hours=1)),
                "labels": {SCHEDULED_LABEL: "true"},
            },
            "spec": {"scheduledTime": format_timestamp(due)},
            "status": {
                "state": {"type": "SCHEDULED", "name": "Scheduled"},
                "stateHistory": history,
            },
        }
    )
    newer = scheduled("newer", 0.1, state_name=AWAITING_SLOT_NAME)
    policy = RunPolicy(concurrency_limit=1)
    assert verdicts([released, newer], policy) == {
        "released": StartVerdict.START,
        "newer": StartVerdict.WAIT,
    }
