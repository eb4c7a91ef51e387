"""The work pool's say on a due run: missing, paused, or its concurrencyLimit across every
Deployment of the pool; slots in scheduled order, the same answer for every decider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kflow.states import StateType
from kflow_operator.decisions.catchup import is_missed
from kflow_operator.decisions.deployment_runs import (
    AWAITING_POOL_NAME,
    AWAITING_SLOT_NAME,
    POOL_PAUSED_NAME,
    DeploymentRun,
    RunPolicy,
)
from kflow_operator.decisions.pool_admission import (
    PoolRun,
    PoolState,
    PoolVerdict,
    decide_pool_admission,
    is_pool_hold,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def pool(**fields: object) -> PoolState:
    return PoolState(**{"name": "shared", "namespace": "team", "exists": True, **fields})  # type: ignore[arg-type]


def due(name: str, seconds_ago: float = 0, **fields: object) -> PoolRun:
    return PoolRun(name, StateType.SCHEDULED, NOW - timedelta(seconds=seconds_ago), **fields)  # type: ignore[arg-type]


def active(name: str, state: StateType = StateType.RUNNING) -> PoolRun:
    return PoolRun(name, state, NOW - timedelta(minutes=5))


def test_a_missing_pool_holds_the_run_and_says_how_to_create_it() -> None:
    decision = decide_pool_admission("a", pool(exists=False), [], NOW, run_type="process")
    assert decision.verdict is PoolVerdict.HOLD
    assert decision.state_name == AWAITING_POOL_NAME
    assert "'shared' does not exist in namespace 'team'" in decision.message
    assert "kflow work-pool create shared --type process" in decision.message
    assert is_pool_hold(decision.state_name, decision.message)


def test_a_paused_pool_holds_every_run() -> None:
    decision = decide_pool_admission("a", pool(paused=True), [due("a")], NOW)
    assert (decision.verdict, decision.state_name) == (PoolVerdict.HOLD, POOL_PAUSED_NAME)
    assert "'shared' is paused" in decision.message
    assert "kflow work-pool resume shared" in decision.message


def test_no_limit_admits() -> None:
    runs = [active(f"r{i}") for i in range(50)]
    assert decide_pool_admission("a", pool(), runs, NOW).verdict is PoolVerdict.ADMIT


def test_the_limit_counts_every_active_state_of_the_pool() -> None:
    states = (StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING)
    runs = [active(f"r{i}", state) for i, state in enumerate(states)] + [due("a")]
    held = decide_pool_admission("a", pool(concurrency_limit=4), runs, NOW)
    assert (held.verdict, held.state_name) == (PoolVerdict.HOLD, AWAITING_SLOT_NAME)
    assert "'shared' has concurrencyLimit=4" in held.message
    assert is_pool_hold(held.state_name, held.message)
    finished = [PoolRun("done", StateType.COMPLETED, NOW), *runs[1:]]
    admitted = decide_pool_admission("a", pool(concurrency_limit=4), finished, NOW)
    assert admitted.verdict is PoolVerdict.ADMIT


def test_the_last_slot_goes_in_scheduled_order_whoever_asks() -> None:
    # Two Deployments' runs due at one instant, one slot: both deciders agree on "a".
    runs = [active("x"), due("b"), due("a")]
    limited = pool(concurrency_limit=2)
    assert decide_pool_admission("a", limited, runs, NOW).verdict is PoolVerdict.ADMIT
    assert decide_pool_admission("b", limited, runs, NOW).verdict is PoolVerdict.HOLD
    # Once "a" is launched, "b" still waits: "a" now counts as active.
    launched = [active("x"), due("b"), active("a", StateType.PENDING)]
    assert decide_pool_admission("b", limited, launched, NOW).verdict is PoolVerdict.HOLD


def test_earlier_due_runs_go_first_and_not_yet_due_ones_do_not_compete() -> None:
    runs = [due("late-comer", 0), due("older", 30), due("future", -60)]
    limited = pool(concurrency_limit=1)
    assert decide_pool_admission("older", limited, runs, NOW).verdict is PoolVerdict.ADMIT
    assert decide_pool_admission("late-comer", limited, runs, NOW).verdict is PoolVerdict.HOLD
    alone = [due("late-comer", 0), due("future", -60)]
    assert decide_pool_admission("late-comer", limited, alone, NOW).verdict is PoolVerdict.ADMIT


def test_a_run_its_deployment_holds_does_not_block_the_pool() -> None:
    runs = [due("a", 30, eligible=False), due("b")]
    decision = decide_pool_admission("b", pool(concurrency_limit=1), runs, NOW)
    assert decision.verdict is PoolVerdict.ADMIT


def test_cancelled_before_start_does_not_compete() -> None:
    runs = [due("a", 30, cancel_requested=True), due("b")]
    decision = decide_pool_admission("b", pool(concurrency_limit=1), runs, NOW)
    assert decision.verdict is PoolVerdict.ADMIT


def test_limit_zero_holds_everything() -> None:
    decision = decide_pool_admission("a", pool(concurrency_limit=0), [due("a")], NOW)
    assert decision.verdict is PoolVerdict.HOLD
    assert "concurrencyLimit=0, which holds all its runs" in decision.message


def test_a_deployments_own_slot_message_is_not_a_pool_hold() -> None:
    message = "AwaitingConcurrencySlot: concurrencyLimit=1 runs are active (x)"
    assert not is_pool_hold(AWAITING_SLOT_NAME, message)
    assert not is_pool_hold("Scheduled", "Scheduled for ...")


def test_runs_held_by_their_pool_are_not_missed_runs() -> None:
    for name in (POOL_PAUSED_NAME, AWAITING_POOL_NAME, AWAITING_SLOT_NAME):
        run = DeploymentRun(
            "r",
            StateType.SCHEDULED,
            name,
            NOW - timedelta(hours=1),
            NOW - timedelta(hours=1),
            from_schedule=True,
        )
        assert not is_missed(run, RunPolicy(), NOW)
