"""A WorkPool's status as its workers keep it (decisions/pool_status.py), on an injected clock:
heartbeats that never drop another worker's entry, stale entries pruned, live workers, counts,
late runs, the Ready condition, and which due runs say that no worker serves the pool."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kflow.states import StateType
from kflow_operator.decisions import pool_status
from kflow_operator.decisions.pool_status import (
    AWAITING_WORKER_NAME,
    PoolFacts,
    PoolRun,
    Worker,
    WorkerTiming,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMING = WorkerTiming(heartbeat=timedelta(seconds=10), timeout=timedelta(seconds=30))


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


HOUR_AGO = NOW - timedelta(hours=1)
MINUTE_AGO = NOW - timedelta(minutes=1)


def pool(*workers: Worker, paused: bool = False, created: datetime = HOUR_AGO) -> PoolFacts:
    return PoolFacts("ns", "gpu", created, 2, paused, tuple(workers))


def run(
    name: str,
    state: StateType = StateType.SCHEDULED,
    due: datetime = MINUTE_AGO,
    state_name: str | None = "Scheduled",
    message: str | None = None,
    cancel: bool = False,
) -> PoolRun:
    return PoolRun(name, state, state_name, message, due, cancel)


def test_a_heartbeat_renews_its_own_entry_keeps_others_and_prunes_only_long_dead_ones() -> None:
    mine = Worker("host/a", ago(10), ago(500), "0.1.0")
    other = Worker("host/b", ago(45))
    dead = Worker("host/c", ago(301))
    beat = replace(mine, last_heartbeat=NOW)
    after = pool_status.with_heartbeat([dead, other, mine], beat, TIMING, NOW)
    assert after == [beat, other]  # b is not live, but not pruned before 10 × timeout
    assert pool_status.with_heartbeat([], beat, TIMING, NOW) == [beat]
    assert beat.to_status() == {
        "identity": "host/a",
        "lastHeartbeatTime": "2026-03-01T12:00:00.000000Z",
        "startTime": "2026-03-01T11:51:40.000000Z",
        "version": "0.1.0",
    }
    assert Worker.from_status(beat.to_status()) == beat
    assert Worker.from_status({"identity": "x"}) is None


def test_leaving_removes_only_its_own_entry_and_writes_nothing_when_it_has_none() -> None:
    a, b = Worker("a", ago(1)), Worker("b", ago(2))
    assert pool_status.without([a, b], "a") == [b]
    assert pool_status.without([b], "a") is None


def test_a_worker_is_live_while_its_heartbeat_is_younger_than_the_timeout() -> None:
    fresh, stale = Worker("a", ago(29)), Worker("b", ago(30))
    assert pool_status.live([fresh, stale], TIMING, NOW) == [fresh]


def test_run_counts_cover_every_state_and_late_runs_are_due_unstarted_past_the_margin() -> None:
    runs = [
        run("due-long-ago"),
        run("due-just-now", due=ago(5)),
        run("future", due=NOW + timedelta(minutes=1)),
        run("cancel-asked", cancel=True),
        run("running", StateType.RUNNING),
        run("done", StateType.COMPLETED),
    ]
    counts = pool_status.run_counts(runs)
    assert counts == {
        "scheduled": 4,
        "pending": 0,
        "running": 1,
        "paused": 0,
        "cancelling": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
        "crashed": 0,
    }
    assert pool_status.late_runs(runs, NOW) == 1


def test_ready_is_true_with_a_live_worker_and_says_why_not_otherwise() -> None:
    assert pool_status.ready(pool(Worker("a", ago(5))), TIMING, NOW) == (
        True,
        "WorkersLive",
        "1 live worker",
    )
    flag, reason, message = pool_status.ready(pool(Worker("a", ago(95))), TIMING, NOW)
    assert (flag, reason) == (False, "NoWorkers")
    assert message == (
        "no worker is serving pool gpu (last heartbeat 2026-03-01T11:58:25Z); start one: "
        "kflow worker start --pool gpu --namespace ns, or an operator with --work-pool gpu"
    )
    assert "(last heartbeat never)" in pool_status.ready(pool(), TIMING, NOW)[2]
    flag, reason, message = pool_status.ready(pool(Worker("a", ago(5)), paused=True), TIMING, NOW)
    assert (flag, reason) == (False, "Paused") and "no worker" not in message
    paused_unserved = pool_status.ready(pool(paused=True), TIMING, NOW)[2]
    assert "is paused" in paused_unserved and "no worker is serving pool gpu" in paused_unserved


def test_a_worker_that_left_is_still_named_by_the_pools_last_heartbeat() -> None:
    left = replace(pool(), last_heartbeat=ago(40))
    assert "(last heartbeat 2026-03-01T11:59:20Z)" in pool_status.no_worker_message(left)
    both = replace(pool(Worker("a", ago(100))), last_heartbeat=ago(40))
    assert "11:59:20Z" in pool_status.no_worker_message(both)


def test_the_ready_transition_time_moves_only_when_its_status_does() -> None:
    first = pool_status.condition([], (False, "NoWorkers", "x"), 2, ago(60))
    same = pool_status.condition(first, (False, "NoWorkers", "y"), 2, NOW)
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert same[0]["message"] == "y"
    flipped = pool_status.condition(same, (True, "WorkersLive", "1 live worker"), 2, NOW)
    assert flipped[0]["lastTransitionTime"] == "2026-03-01T12:00:00.000000Z"
    other = {"type": "Other", "status": "True", "lastTransitionTime": "t"}
    assert [c["type"] for c in pool_status.condition([other], (True, "r", "m"), 2, NOW)] == [
        "Other",
        "Ready",
    ]


def test_a_pass_that_finds_nothing_new_writes_nothing() -> None:
    facts = pool(Worker("a", ago(5)))
    runs = [run("r", StateType.RUNNING)]
    wanted = pool_status.summary(facts, {}, runs, TIMING, NOW)
    assert wanted["liveWorkers"] == 1 and wanted["observedGeneration"] == 2
    status = dict(wanted)
    later = NOW + timedelta(seconds=10)
    assert (
        pool_status.changed_fields(status, pool_status.summary(facts, status, runs, TIMING, later))
        == {}
    )
    more = [*runs, run("s", StateType.COMPLETED)]
    changed = pool_status.changed_fields(
        status, pool_status.summary(facts, status, more, TIMING, NOW)
    )
    assert set(changed) == {"runCounts"}


def test_due_runs_of_a_pool_without_worker_for_the_timeout_say_so_once() -> None:
    unserved = pool(Worker("a", ago(31)))
    message = pool_status.no_worker_message(unserved)
    runs = [
        run("due"),
        run("said-already", state_name=AWAITING_WORKER_NAME, message=message),
        run("said-other-time", state_name=AWAITING_WORKER_NAME, message="no worker ... older"),
        run("retry", state_name="AwaitingRetry"),
        run("future", due=NOW + timedelta(seconds=1)),
        run("running", StateType.RUNNING),
        run("cancel-asked", cancel=True),
    ]
    said, waiting = pool_status.awaiting_worker(unserved, runs, TIMING, NOW)
    assert said == message
    assert [r.name for r in waiting] == ["due", "said-other-time"]


def test_no_run_is_marked_while_a_worker_is_live_or_only_briefly_gone() -> None:
    runs = [run("due")]
    assert pool_status.awaiting_worker(pool(Worker("a", ago(29))), runs, TIMING, NOW)[1] == []
    new_pool = pool(created=ago(20))
    assert pool_status.awaiting_worker(new_pool, runs, TIMING, NOW)[1] == []
    assert [r.name for r in pool_status.awaiting_worker(pool(), runs, TIMING, NOW)[1]] == ["due"]


def test_the_pool_loop_reads_runs_without_a_state_as_scheduled_from_their_creation() -> None:
    from kflow_operator.workers import pool_facts, pool_run

    fresh = pool_run({"metadata": {"name": "r", "creationTimestamp": "2026-03-01T11:59:00Z"}})
    assert (fresh.state_type, fresh.state_name, fresh.due_at) == (
        StateType.SCHEDULED,
        None,
        MINUTE_AGO,
    )
    later = pool_run(
        {
            "metadata": {"name": "s", "creationTimestamp": "2026-03-01T11:00:00Z"},
            "spec": {"scheduledTime": "2026-03-01T12:05:00Z", "cancel": True},
            "status": {"state": {"type": "SCHEDULED", "name": "Late", "message": "m"}},
        }
    )
    assert later.due_at == NOW + timedelta(minutes=5) and later.cancel_requested
    facts = pool_facts(
        {
            "metadata": {
                "name": "gpu",
                "namespace": "ns",
                "creationTimestamp": "2026-03-01T11:00:00Z",
                "generation": 3,
            },
            "spec": {"type": "process", "paused": True},
            "status": {
                "workers": [{"identity": "a", "lastHeartbeatTime": "2026-03-01T11:59:50Z"}],
                "lastHeartbeatTime": "2026-03-01T11:59:55Z",
            },
        }
    )
    assert facts.paused and facts.generation == 3 and facts.created == HOUR_AGO
    assert [w.identity for w in facts.workers] == ["a"]
    assert pool_status.newest_heartbeat(facts) == ago(5)
